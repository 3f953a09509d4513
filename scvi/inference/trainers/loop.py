"""The Trainer: the optimisation loop, its hooks, history and early stopping."""

import copy
import logging
import time
from collections import OrderedDict, defaultdict
from itertools import cycle
from typing import List, Optional, Union

import numpy as np
import torch
from tqdm.auto import tqdm

from ..._settings import progress_bar_enabled
from .data_parallel import parallelism
from .step import NanGuard, compiled, make_adam, parameters_device
from ..early_stopping import EarlyStopping
from ..posterior import Posterior
from .posteriors import TrainerPosteriors

logger = logging.getLogger(__name__)


class Trainer(TrainerPosteriors):
    """The abstract Trainer class for training a PyTorch model and monitoring its
    statistics.

    It should be inherited at least with a ``.loss()`` function to be optimized in
    the training loop, and a ``posteriors_loop`` property naming the posteriors
    whose mini-batches feed it.

    Parameters
    ----------
    model
        A model instance from class VAE, VAEC, SCANVI.
    gene_dataset
        A :class:`~scvi.dataset.GeneExpressionDataset`.
    use_cuda
        Train on the GPU when one is available; falls back to the CPU quietly.
    metrics_to_monitor
        Names of Posterior methods computed every ``frequency`` epochs on every
        posterior of the trainer, besides the metrics each posterior lists in its
        ``to_monitor`` (default: ``default_metrics_to_monitor``); the values go
        to ``history["<metric>_<posterior>"]``.
    benchmark
        If True, no statistics are computed during training.
    frequency
        Compute the metrics every ``frequency`` epochs (None: never, unless early
        stopping needs them, then every epoch).
    weight_decay
        L2 penalty of the Adam optimizer.
    early_stopping_kwargs
        Arguments of :class:`~scvi.inference.early_stopping.EarlyStopping`:
        ``early_stopping_metric``, ``save_best_state_metric``, ``on``,
        ``patience``, ``threshold``, ``reduce_lr_on_plateau``, ``lr_patience``,
        ``lr_factor``.
    data_loader_kwargs
        Arguments of the posteriors' mini-batch loaders.
    show_progbar
        If False, disables progress bar.
    batch_size
        Mini-batch size.
    seed
        Random seed for train/test/validate split.
    max_nans
        Number of consecutive NaN losses after which a ValueError is raised (the
        losses are counted on the device and the count is read at the end of each
        epoch; a NaN step changes no weight).
    data_on_device
        Keep the dataset on the GPU and cut the mini-batches there (True), or copy
        each mini-batch from pinned host memory (False). Default (None): on the
        GPU when it fits in a quarter of the free GPU memory; on CPU, mini-batches
        are gathered from the arrays as they are (True gathers them with torch).
    compile
        Run the loss of each training step through :func:`torch.compile` (True, or
        a compile mode such as ``"reduce-overhead"``, which uses CUDA graphs);
        where compilation fails, a warning is logged and training runs eagerly.
        Same results within floating-point noise; the first steps are slower.
    distributed
        Train data-parallel on :mod:`torch.distributed` (see
        :doc:`/distributed`): each process trains on its shard of the training
        cells of every epoch, gradients are averaged across processes, held-out
        metrics reduced, and only rank 0 shows progress and logs. True: use the
        process group (initialised from ``torchrun``'s environment if needed);
        False: train alone; None (default): True when a process group is
        initialised or ``torchrun``'s environment variables are set.
    """

    default_metrics_to_monitor = []

    def __init__(
        self,
        model,
        gene_dataset,
        use_cuda: bool = True,
        metrics_to_monitor: Optional[List] = None,
        benchmark: bool = False,
        frequency: Optional[int] = None,
        weight_decay: float = 1e-6,
        early_stopping_kwargs: Optional[dict] = None,
        data_loader_kwargs: Optional[dict] = None,
        show_progbar: bool = True,
        batch_size: int = 128,
        seed: int = 0,
        max_nans: int = 10,
        *,
        data_on_device: Optional[bool] = None,
        compile: Union[bool, str] = False,
        distributed: Optional[bool] = None,
    ):
        self._posteriors = OrderedDict()
        self.model = model
        self.gene_dataset = gene_dataset
        self.use_cuda = bool(use_cuda) and torch.cuda.is_available()
        self._parallel = parallelism(distributed, self.use_cuda, seed)
        if self.use_cuda:
            self.model.cuda()
        self.data_loader_kwargs = {
            "batch_size": batch_size,
            "pin_memory": self.use_cuda,
            "data_on_device": data_on_device,
        }
        self.data_loader_kwargs.update(data_loader_kwargs or {})
        self.weight_decay = weight_decay
        self.benchmark = benchmark
        self.seed = seed
        self.max_nans = max_nans
        self.show_progbar = show_progbar
        self.compile = compile
        self._nan_guard = None

        early_stopping_kwargs = dict(early_stopping_kwargs or {})
        early_stopping_kwargs.setdefault("posterior_class", Posterior)
        self.early_stopping = EarlyStopping(
            benchmark=benchmark, **early_stopping_kwargs
        )
        if metrics_to_monitor is not None:
            self.metrics_to_monitor = set(metrics_to_monitor)
        else:
            self.metrics_to_monitor = set(self.default_metrics_to_monitor)
        for metric in (
            self.early_stopping.early_stopping_metric,
            self.early_stopping.save_best_state_metric,
        ):
            if metric is not None:
                self.metrics_to_monitor.add(metric)
        watching = self.early_stopping.early_stopping_metric or (
            self.early_stopping.save_best_state_metric
        )
        if watching and frequency is None and not benchmark:
            frequency = 1
        self.frequency = None if benchmark else frequency

        self.history = defaultdict(list)
        self.best_state_dict = copy.deepcopy(self.model.state_dict())
        self.best_epoch = 0
        self.training_time = 0.0
        self.compute_metrics_time = 0.0
        self.epoch = -1
        self.n_epochs = 0
        self.n_iter = 0
        self.nan_counter = 0
        self.current_loss = None
        self.optimizer = None

    # ------------------------------------------------------------ posteriors
    @property
    def posteriors_loop(self) -> List[str]:
        """Names of the posteriors whose mini-batches feed :meth:`loss` (abstract:
        defined by each trainer)."""
        raise NotImplementedError(f"{type(self).__name__} defines no posteriors_loop")

    def data_loaders_loop(self):
        """Returns an zipped iterable corresponding to loss signature.

        The first posterior of ``posteriors_loop`` sets the epoch's length; the
        others are cycled.
        """
        posteriors = [self._posteriors[name] for name in self.posteriors_loop]
        return zip(posteriors[0], *(cycle(p) for p in posteriors[1:]))

    def _check_early_stopping_posterior(self) -> None:
        """Raise if early stopping watches a posterior the trainer does not have."""
        watching = self.early_stopping.early_stopping_metric or (
            self.early_stopping.save_best_state_metric
        )
        on = self.early_stopping.on
        if watching and on is not None and on.strip("_") not in self._posteriors:
            raise ValueError(
                f"early_stopping_kwargs on={on!r} names no posterior of this "
                f"{type(self).__name__}; its posteriors are {list(self._posteriors)}"
            )

    # ------------------------------------------------------------ training loop
    def loss(self, *tensors_list):
        """The scalar loss of one step, from one mini-batch of each posterior of
        ``posteriors_loop`` (abstract: defined by each trainer)."""
        raise NotImplementedError(f"{type(self).__name__} defines no loss")

    def _objective(self, *tensors_list):
        """What a training step differentiates, from one mini-batch of each
        posterior of ``posteriors_loop``: :meth:`loss`. Trainers with a
        discriminator also return the latent samples it classifies. Run as the
        forward pass of the data-parallel wrapper when training data-parallel."""
        return self.loss(*tensors_list)

    def train(
        self,
        n_epochs: int = 400,
        lr: float = 1e-3,
        eps: float = 0.01,
        params=None,
        **extras_kwargs,
    ) -> None:
        """Train the model with Adam.

        Parameters
        ----------
        n_epochs
            Number of passes over the training posterior.
        lr
            Learning rate.
        eps
            Adam's ``eps``.
        params
            Parameters to optimise (default: every parameter of the model that
            requires a gradient).
        **extras_kwargs
            Passed to :meth:`training_extras_init`.
        """
        if isinstance(n_epochs, bool) or not isinstance(n_epochs, (int, np.integer)):
            raise ValueError(
                f"n_epochs must be a non-negative integer, got {n_epochs!r}"
            )
        if n_epochs < 0:
            raise ValueError(f"n_epochs must be a non-negative integer, got {n_epochs}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        begin = time.time()
        self._check_early_stopping_posterior()
        self.model.train()
        if params is None:
            params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_adam(
            params, lr=lr, eps=eps, weight_decay=self.weight_decay
        )
        self._nan_guard = NanGuard(parameters_device(self.optimizer), self.max_nans)
        self._step_loss = self._parallel.wrap_loss(
            self.model, compiled(self._objective, self.compile)
        )
        self.training_extras_init(**extras_kwargs)
        self.n_epochs = n_epochs
        self.compute_metrics_time = 0.0
        self.epoch = -1
        self.compute_metrics()
        self.on_training_begin()
        self._parallel.begin_training(self)
        epochs = tqdm(
            range(n_epochs),
            desc="training",
            disable=not (
                self._parallel.is_main and progress_bar_enabled(self.show_progbar)
            ),
        )
        try:
            for self.epoch in epochs:
                self._train_epoch()
                if not self.on_epoch_end():
                    break
        finally:
            self._parallel.end_training(self)
            self._step_loss = None
        if self.early_stopping.save_best_state_metric is not None:
            self.model.load_state_dict(self.best_state_dict)
            self.compute_metrics()
        self.model.eval()
        self.training_extras_end()
        self.training_time += time.time() - begin - self.compute_metrics_time
        self.on_training_end()

    def _train_epoch(self) -> None:
        """The optimisation steps of one epoch; then the NaN counters are read."""
        self.on_epoch_begin()
        self._parallel.begin_epoch(self.epoch)
        for tensors_list in self.data_loaders_loop():
            if tensors_list[0][0].shape[0] < 3:
                continue  # batch norm cannot use a mini-batch of 1 or 2 cells
            self.on_iteration_begin()
            self.on_training_loop(tensors_list)
            self._parallel.after_step()
            self.on_iteration_end()
        self._parallel.end_epoch(self._nan_guard)
        self.nan_counter = self._nan_guard.check()

    def on_training_loop(self, tensors_list) -> None:
        """One optimisation step on one mini-batch of each posterior.

        Nothing is read back on the host: a step whose gradients are not finite
        (a NaN loss) is skipped on the device, and :meth:`check_training_status`
        counts NaN losses on the device.
        """
        self.current_loss = loss = self._step_loss(*tensors_list)
        self.optimizer.zero_grad()
        self._nan_guard.step(loss, self.optimizer)

    def training_extras_init(self, **extras_kwargs) -> None:
        """Other necessary models to simultaneously train."""

    def training_extras_end(self) -> None:
        """Place to put extra models in eval mode, etc."""

    def on_training_begin(self) -> None:
        """Called once before the first epoch."""

    def on_epoch_begin(self) -> None:
        """Called at the start of each epoch."""

    def on_iteration_begin(self) -> None:
        """Called before each optimisation step."""

    def on_iteration_end(self) -> None:
        """Called after each optimisation step: checks the loss."""
        self.check_training_status()
        self.n_iter += 1

    def on_training_end(self) -> None:
        """Called once after training."""

    def on_epoch_end(self) -> bool:
        """Compute the metrics, then apply early stopping.

        Returns
        -------
        bool
            False to stop training.
        """
        self.compute_metrics()
        on = self.early_stopping.on
        state_metric = self.early_stopping.save_best_state_metric
        if state_metric is not None and on is not None:
            values = self.history.get(f"{state_metric}_{on}")
            if values and self.early_stopping.update_state(values[-1]):
                self.best_state_dict = copy.deepcopy(self.model.state_dict())
                self.best_epoch = self.epoch
        metric = self.early_stopping.early_stopping_metric
        if metric is None or on is None:
            return True
        values = self.history.get(f"{metric}_{on}")
        if not values:
            return True
        continue_training, reduce_lr = self.early_stopping.update(values[-1])
        if reduce_lr:
            for group in self.optimizer.param_groups:
                group["lr"] *= self.early_stopping.lr_factor
            logger.info("Reducing the learning rate to %g", group["lr"])
        if not continue_training:
            logger.info(
                "Early stopping at epoch %d: %s on %s did not improve for %d epochs",
                self.epoch + 1,
                metric,
                on,
                self.early_stopping.patience,
            )
        return continue_training

    def check_training_status(self) -> None:
        """Checks if loss is admissible.

        Counts the run of NaN losses on the device (no host synchronisation); the
        count is read at the end of each epoch, which stops training with a
        ValueError after ``max_nans`` consecutive NaN losses (``nan_counter`` then
        holds the current run).
        """
        if self.current_loss is not None:
            self._nan_guard.count(self.current_loss)

    def monitored_metrics(self, posterior) -> List[str]:
        """The metrics recorded for ``posterior``: those it lists in its
        ``to_monitor``, then the trainer's ``metrics_to_monitor`` (as in scVI
        0.6)."""
        extra = sorted(set(self.metrics_to_monitor) - set(posterior.to_monitor))
        return list(posterior.to_monitor) + extra

    def compute_metrics(self) -> None:
        """Compute the monitored metrics of the posteriors, every ``frequency``
        epochs, into ``history``."""
        begin = time.time()
        epoch = self.epoch + 1
        due = self.frequency and (
            epoch == 0 or epoch == self.n_epochs or epoch % self.frequency == 0
        )
        if due:
            was_training = self.model.training
            with torch.no_grad():
                self.model.eval()
                for name, posterior in self._posteriors.items():
                    if posterior.nb_cells == 0:
                        continue
                    for metric in self.monitored_metrics(posterior):
                        value = self._parallel.metric(posterior, metric)
                        self.history[f"{metric}_{name}"].append(value)
                        logger.debug("%s %s: %s", name, metric, value)
            self.model.train(was_training)
        self.compute_metrics_time += time.time() - begin
