"""The named posteriors of a trainer: creation, splits, attribute access."""

import math
from typing import Tuple, Union

import numpy as np

from ..posterior import Posterior


def split_sizes(
    n_cells: int,
    train_size: Union[int, float, None],
    test_size: Union[int, float, None],
) -> Tuple[int, int]:
    """Numbers of train and test cells for ``train_test_validation``.

    A float is a fraction of ``n_cells`` (train rounded down, test rounded up), an
    int a number of cells; a None size takes the cells the other one leaves.

    Raises
    ------
    ValueError
        If a size is out of range or the two exceed ``n_cells``.
    """

    def count(size, name, round_):
        if size is None:
            return None
        if isinstance(size, bool) or not isinstance(size, (int, float, np.number)):
            raise ValueError(f"{name} must be a float, an int or None, got {size!r}")
        if isinstance(size, (float, np.floating)):
            if not 0 < size <= 1:
                raise ValueError(f"{name} as a fraction must lie in (0, 1], got {size}")
            return int(round_(size * n_cells))
        if not 0 <= size <= n_cells:
            raise ValueError(
                f"{name} as a number of cells must lie in [0, {n_cells}], got {size}"
            )
        return int(size)

    n_train = count(train_size, "train_size", math.floor)
    n_test = count(test_size, "test_size", math.ceil)
    if n_train is None and n_test is None:
        raise ValueError("train_size and test_size cannot both be None")
    if n_train is None:
        n_train = n_cells - n_test
    if n_test is None:
        n_test = n_cells - n_train
    if n_train + n_test > n_cells:
        raise ValueError(
            f"train_size ({n_train} cells) + test_size ({n_test} cells) exceed the "
            f"{n_cells} cells of the dataset"
        )
    return n_train, n_test


class TrainerPosteriors:
    """The posteriors a :class:`~scvi.inference.Trainer` holds by name
    (``train_set``, ``test_set``, ...): registered by assignment
    (``trainer.train_set = posterior``), read as attributes, created with the
    trainer's model, dataset, device and loader settings.

    Expects the attributes ``model``, ``gene_dataset``, ``use_cuda``,
    ``data_loader_kwargs`` and ``seed``, and ``_posteriors`` (an ordered dict) set
    first of all in ``__init__``.
    """

    def __getattr__(self, name):
        posteriors = self.__dict__.get("_posteriors", {})
        if name.strip("_") in posteriors:
            return posteriors[name.strip("_")]
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )

    def __setattr__(self, name, value):
        if isinstance(value, Posterior):
            self.register_posterior(name, value)
        else:
            object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if name.strip("_") in self._posteriors:
            del self._posteriors[name.strip("_")]
        else:
            object.__delattr__(self, name)

    def register_posterior(self, name: str, value: Posterior) -> None:
        """Register ``value`` under ``name`` (also reachable as ``trainer.<name>``)."""
        self._posteriors[name.strip("_")] = value

    def create_posterior(
        self,
        model=None,
        gene_dataset=None,
        shuffle: bool = False,
        indices=None,
        type_class=Posterior,
    ) -> Posterior:
        """A posterior of ``type_class`` on the trainer's model and dataset (by
        default) with the trainer's device and loader settings."""
        return type_class(
            self.model if model is None else model,
            self.gene_dataset if gene_dataset is None else gene_dataset,
            shuffle=shuffle,
            indices=indices,
            use_cuda=self.use_cuda,
            data_loader_kwargs=self.data_loader_kwargs,
        )

    def train_test_validation(
        self,
        model=None,
        gene_dataset=None,
        train_size: Union[int, float, None] = 0.1,
        test_size: Union[int, float, None] = None,
        type_class=Posterior,
    ) -> Tuple[Posterior, Posterior, Posterior]:
        """Creates posteriors ``train_set``, ``test_set``, ``validation_set``.

        The cells are permuted with ``seed``; if ``train_size + test_size < 1``
        (or less than the number of cells) then ``validation_set`` is non-empty.

        Parameters
        ----------
        train_size
            float, int, or None (default is 0.1).
        test_size
            float, int, or None (default is None: the cells not in train).

        Returns
        -------
        tuple of Posterior
            ``(train_set, test_set, validation_set)``.
        """
        gene_dataset = self.gene_dataset if gene_dataset is None else gene_dataset
        model = self.model if model is None else model
        n_cells = len(gene_dataset)
        n_train, n_test = split_sizes(n_cells, train_size, test_size)
        permutation = np.random.RandomState(seed=self.seed).permutation(n_cells)
        indices_test = permutation[:n_test]
        indices_train = permutation[n_test : n_test + n_train]
        indices_validation = permutation[n_test + n_train :]
        return tuple(
            self.create_posterior(model, gene_dataset, indices=i, type_class=type_class)
            for i in (indices_train, indices_test, indices_validation)
        )

    def corrupt_posteriors(
        self, rate: float = 0.1, corruption: str = "uniform", update_corruption=True
    ) -> None:
        """Corrupt the dataset (unless ``update_corruption`` is False and it was
        corrupted already) and make every posterior iterate over the corrupted
        counts."""
        if update_corruption or self.gene_dataset.corrupted_X is None:
            self.gene_dataset.corrupt(rate=rate, corruption=corruption)
        for name, posterior in self._posteriors.items():
            self.register_posterior(name, posterior.corrupted())

    def uncorrupt_posteriors(self) -> None:
        """Make every posterior iterate over the original counts again."""
        for name, posterior in self._posteriors.items():
            self.register_posterior(name, posterior.uncorrupted())
