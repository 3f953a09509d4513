"""Data plumbing of a Posterior: which cells, in which order, as which tensors."""

import copy
import json
import os
import shutil
import tempfile
from typing import List, Optional, Union

import numpy as np
import torch

from ...models._vae_covariates import covariate_dtypes
from .batching import (
    BatchLoader,
    RandomSampler,
    SequentialSampler,
    SequentialSubsetSampler,
    SubsetRandomSampler,
    as_index_array,
)

POSTERIOR_FILES = {
    "dataset": "anndata_dataset.h5ad",
    "model": "model_params.pt",
    "attributes": "attr_dict.json",
    "indices": "indices.npy",
}


def resolve_use_cuda(use_cuda) -> bool:
    """True when CUDA is asked for (True or "auto") and available; never an error."""
    return bool(use_cuda) and torch.cuda.is_available()


class PosteriorBase:
    """A model, a dataset and a subset of its cells, iterated in mini-batches.

    See :class:`scvi.inference.Posterior` for the parameters.
    """

    def __init__(
        self,
        model,
        gene_dataset,
        shuffle: bool = False,
        indices: Optional[Union[List[int], np.ndarray]] = None,
        use_cuda: bool = True,
        data_loader_kwargs: Optional[dict] = None,
    ):
        self.model = model
        self.gene_dataset = gene_dataset
        self.to_monitor = []
        self.use_cuda = resolve_use_cuda(use_cuda)
        if indices is not None and shuffle:
            raise ValueError("indices and shuffle=True are mutually exclusive")
        if indices is not None:
            indices = as_index_array(indices, len(gene_dataset))
            sampler = SubsetRandomSampler(indices)
        elif shuffle:
            sampler = RandomSampler(gene_dataset)
        else:
            sampler = SequentialSampler(gene_dataset)
        self.data_loader_kwargs = dict(data_loader_kwargs or {})
        self.data_loader_kwargs.setdefault("batch_size", 128)
        self.data_loader_kwargs.setdefault("pin_memory", self.use_cuda)
        self.data_loader_kwargs.setdefault("collate_fn", self._collate_fn())
        self.data_loader_kwargs["sampler"] = sampler
        self.data_loader = BatchLoader(gene_dataset, **self.data_loader_kwargs)

    #: dataset attributes (name -> NumPy dtype) that mini-batches carry after
    #: ``(X, local_means, local_vars, batch_indices, labels)``
    extra_attributes = {}

    def _collate_fn(self, corrupted: bool = False):
        """The dataset's collate function of this posterior's tensors."""
        attributes = dict(self.extra_attributes)
        attributes.update(covariate_dtypes(self.model))  # opt-in model covariates
        return self.gene_dataset.collate_fn_builder(attributes, corrupted=corrupted)

    # ------------------------------------------------------------------ iteration
    def __iter__(self):
        if self.use_cuda:
            return map(self.to_cuda, self.data_loader)
        return iter(self.data_loader)

    def to_cuda(self, tensors: List[torch.Tensor]) -> List[torch.Tensor]:
        """Converts list of tensors to cuda.

        Parameters
        ----------
        tensors
            Tensors to convert.

        Returns
        -------
        list of torch.Tensor
            The same tensors on the current CUDA device.
        """
        return [t.cuda(non_blocking=True) for t in tensors]

    @property
    def indices(self) -> np.ndarray:
        """Returns the current dataloader indices used by the object."""
        sampler = self.data_loader.sampler
        if hasattr(sampler, "indices"):
            return np.asarray(sampler.indices)
        return np.arange(len(self.gene_dataset))

    @property
    def nb_cells(self) -> int:
        """Returns the number of studied cells."""
        return len(self.indices)

    @property
    def posterior_type(self) -> str:
        """Returns the posterior class name."""
        return self.__class__.__name__

    def _ordered(self, batch_size: Optional[int] = None):
        """Iterate over the cells in the order of :attr:`indices`.

        Per-cell queries use it, so that their rows follow ``self.indices``.
        """
        return iter(self.sequential(batch_size or self.data_loader.batch_size))

    # ------------------------------------------------------------ new loaders
    def update(self, data_loader_kwargs: dict) -> "PosteriorBase":
        """Updates the dataloader.

        Parameters
        ----------
        data_loader_kwargs
            Data loader arguments to change (``batch_size``, ``sampler``,
            ``collate_fn``, ``pin_memory``, ``drop_last``).

        Returns
        -------
        Posterior
            A shallow copy of this posterior with the new loader; this one is
            unchanged.
        """
        posterior = copy.copy(self)
        posterior.data_loader_kwargs = dict(self.data_loader_kwargs)
        posterior.data_loader_kwargs.update(data_loader_kwargs)
        posterior.data_loader = BatchLoader(
            self.gene_dataset, **posterior.data_loader_kwargs
        )
        return posterior

    def update_sampler_indices(self, idx: Union[List, np.ndarray]) -> None:
        """Updates the dataloader indices, in place.

        Parameters
        ----------
        idx
            Indices (in ``[0, len(dataset)]``) to sample from; the new loader keeps
            the randomness of the current one. Save ``self.data_loader`` beforehand
            and put it back afterwards to restore the previous cells.
        """
        idx = as_index_array(idx, len(self.gene_dataset), name="idx")
        random = isinstance(
            self.data_loader.sampler, (SubsetRandomSampler, RandomSampler)
        )
        sampler_class = SubsetRandomSampler if random else SequentialSubsetSampler
        self.data_loader_kwargs = dict(self.data_loader_kwargs)
        self.data_loader_kwargs["sampler"] = sampler_class(idx)
        self.data_loader = BatchLoader(self.gene_dataset, **self.data_loader_kwargs)

    def sequential(self, batch_size: Optional[int] = 128) -> "PosteriorBase":
        """Returns a copy of the object that iterate over the data sequentially.

        Parameters
        ----------
        batch_size
            New batch size.

        Returns
        -------
        Posterior
            A copy visiting :attr:`indices` in their order.
        """
        return self.update(
            {
                "batch_size": batch_size,
                "sampler": SequentialSubsetSampler(indices=self.indices),
            }
        )

    def corrupted(self) -> "PosteriorBase":
        """Corrupts gene counts: a copy whose mini-batches hold ``corrupted_X``."""
        return self.update({"collate_fn": self._collate_fn(corrupted=True)})

    def uncorrupted(self) -> "PosteriorBase":
        """Uncorrupts gene counts: a copy whose mini-batches hold ``X``."""
        return self.update({"collate_fn": self._collate_fn()})

    def raw_data(self):
        """Returns raw data for classification.

        Returns
        -------
        tuple
            ``(X, labels)`` of the posterior's cells: the counts (dense or sparse,
            as stored) and the labels as a 1-d array.
        """
        indices = self.indices
        return (
            self.gene_dataset.X[indices],
            np.asarray(self.gene_dataset.labels)[indices].ravel(),
        )

    # ------------------------------------------------------------ persistence
    def save_posterior(self, dir_path: str) -> None:
        """Saves the posterior properties in folder ``dir_path``.

        The folder receives the dataset (``anndata_dataset.h5ad``), the model
        weights (``model_params.pt``), the cell indices (``indices.npy``) and the
        posterior's settings (``attr_dict.json``). Everything is written into a
        temporary folder first and renamed at the end, so an interrupted save
        leaves nothing behind. Load it back with
        :func:`scvi.inference.load_posterior`. Under :mod:`torch.distributed`,
        only rank 0 writes; the other processes return at once.

        Parameters
        ----------
        dir_path
            A directory that does not exist yet.

        Raises
        ------
        ValueError
            If ``dir_path`` already exists.
        """
        from ..trainers.distributed import is_main_process

        if not is_main_process():
            return  # in data-parallel training, rank 0 alone writes
        dir_path = os.path.abspath(os.fspath(dir_path))
        if os.path.exists(dir_path):
            raise ValueError(
                f"dir_path {dir_path!r} already exists; save_posterior writes only "
                "into a new directory, so that nothing is overwritten"
            )
        parent = os.path.dirname(dir_path)
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".scvi-posterior-", dir=parent)
        try:
            self.gene_dataset.to_anndata().write_h5ad(
                os.path.join(staging, POSTERIOR_FILES["dataset"])
            )
            torch.save(
                self.model.state_dict(), os.path.join(staging, POSTERIOR_FILES["model"])
            )
            np.save(os.path.join(staging, POSTERIOR_FILES["indices"]), self.indices)
            attributes = {
                "posterior_type": self.posterior_type,
                "batch_size": self.data_loader.batch_size,
                "scvi_version": _scvi_version(),
            }
            with open(os.path.join(staging, POSTERIOR_FILES["attributes"]), "w") as f:
                json.dump(attributes, f, indent=2)
            os.rename(staging, dir_path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _scvi_version() -> str:
    from ... import __version__

    return __version__
