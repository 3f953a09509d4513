"""Early stopping and learning-rate reduction on a monitored metric."""

from typing import Optional, Tuple

import numpy as np


class EarlyStopping:
    """Watches a metric epoch after epoch; says when to stop and when to cut the lr.

    A value counts as an improvement when it beats the best value so far by more
    than ``threshold`` (in the metric's better direction). Training stops after
    ``patience`` epochs without improvement; with ``reduce_lr_on_plateau`` the
    learning rate is multiplied by ``lr_factor`` after ``lr_patience`` epochs
    without improvement.

    Parameters
    ----------
    early_stopping_metric
        Name of the Posterior method monitored for stopping (e.g. ``"elbo"``);
        None disables stopping.
    save_best_state_metric
        Name of the metric whose best value's weights are restored at the end of
        training; None disables it.
    on
        Name of the posterior the metrics are computed on (``"test_set"``).
    patience
        Epochs without improvement before stopping.
    threshold
        Minimum change that counts as an improvement.
    benchmark
        If True, never stop early.
    reduce_lr_on_plateau
        Reduce the learning rate when the metric plateaus.
    lr_patience
        Epochs without improvement before the learning rate is reduced.
    lr_factor
        Factor applied to the learning rate.
    posterior_class
        The class whose metric methods carry a ``mode`` attribute (``"min"`` or
        ``"max"``) telling which direction is better; ``"min"`` when absent.
    """

    def __init__(
        self,
        early_stopping_metric: Optional[str] = None,
        save_best_state_metric: Optional[str] = None,
        on: str = "test_set",
        patience: int = 15,
        threshold: float = 3,
        benchmark: bool = False,
        reduce_lr_on_plateau: bool = False,
        lr_patience: int = 10,
        lr_factor: float = 0.5,
        posterior_class=None,
    ):
        for name, value in (("patience", patience), ("lr_patience", lr_patience)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < lr_factor < 1:
            raise ValueError(f"lr_factor must lie in (0, 1), got {lr_factor!r}")
        if threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {threshold!r}")
        self.early_stopping_metric = early_stopping_metric
        self.save_best_state_metric = save_best_state_metric
        self.on = on
        self.patience = int(patience)
        self.threshold = float(threshold)
        self.benchmark = benchmark
        self.reduce_lr_on_plateau = reduce_lr_on_plateau
        self.lr_patience = int(lr_patience)
        self.lr_factor = float(lr_factor)
        self.mode = self._mode(posterior_class, early_stopping_metric)
        self.mode_save_state = self._mode(posterior_class, save_best_state_metric)
        self.epoch = 0
        self.wait = 0
        self.wait_lr = 0
        self.best_performance = np.inf if self.mode == "min" else -np.inf
        self.best_performance_state = (
            np.inf if self.mode_save_state == "min" else -np.inf
        )

    @staticmethod
    def _mode(posterior_class, metric: Optional[str]) -> str:
        if metric is None or posterior_class is None:
            return "min"
        method = getattr(posterior_class, metric, None)
        if method is None:
            raise ValueError(
                f"unknown metric {metric!r}: it must be a method of "
                f"{posterior_class.__name__}"
            )
        return getattr(method, "mode", "min")

    @staticmethod
    def _gain(mode: str, best: float, value: float) -> float:
        """How much ``value`` beats ``best`` (positive when better)."""
        return best - value if mode == "min" else value - best

    def update(self, scalar: float) -> Tuple[bool, bool]:
        """Record the metric of one epoch.

        Parameters
        ----------
        scalar
            The value of ``early_stopping_metric`` this epoch.

        Returns
        -------
        continue_training : bool
            False once ``patience`` epochs passed without improvement.
        reduce_lr : bool
            True when the learning rate should be reduced now.
        """
        self.epoch += 1
        if self.benchmark or self.early_stopping_metric is None:
            return True, False
        if self._gain(self.mode, self.best_performance, scalar) > self.threshold:
            self.best_performance = scalar
            self.wait = 0
            self.wait_lr = 0
            return True, False
        self.wait += 1
        self.wait_lr += 1
        reduce_lr = False
        if self.reduce_lr_on_plateau and self.wait_lr >= self.lr_patience:
            reduce_lr = True
            self.wait_lr = 0
        return self.wait < self.patience, reduce_lr

    def update_state(self, scalar: float) -> bool:
        """Record the value of ``save_best_state_metric``.

        Returns
        -------
        bool
            True when it is the best so far (the weights should be kept).
        """
        gain = self._gain(self.mode_save_state, self.best_performance_state, scalar)
        if gain > 0:
            self.best_performance_state = scalar
            return True
        return False
