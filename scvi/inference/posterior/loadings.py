"""Latent factors as tables: LDVAE gene loadings and per-cell latent coordinates.

The linearly decoded VAE (:class:`~scvi.models.LDVAE`) makes each latent dimension
a gene program: :meth:`LatentFactorsMixin.get_loadings` labels its weights with the
gene names of the posterior's dataset, :func:`top_loadings` lists the genes that
load most on each dimension, and :meth:`LatentFactorsMixin.get_latent_frame` gives
the cells' coordinates on the same ``Z_0, Z_1, ...`` columns.
"""

import numpy as np
import pandas as pd

from .sampling import SamplingMixin


def _factor_names(n: int) -> list:
    return [f"Z_{i}" for i in range(n)]


def top_loadings(loadings: pd.DataFrame, n_top: int = 5) -> pd.DataFrame:
    """The genes with the most negative and most positive weight of each dimension.

    Parameters
    ----------
    loadings
        Genes x latent dimensions, e.g. from :meth:`Posterior.get_loadings`.
    n_top
        Number of genes on each side (at most the number of genes).

    Returns
    -------
    pandas.DataFrame
        Columns ``dimension``, ``direction`` (``"negative"``: most negative
        first; ``"positive"``: most positive first), ``rank`` (0, 1, ...),
        ``gene`` and ``loading``; ``2 * n_top`` rows per dimension.
    """
    if not isinstance(loadings, pd.DataFrame):
        raise ValueError(
            f"loadings must be a pandas DataFrame, got {type(loadings).__name__}"
        )
    if int(n_top) != n_top or not 1 <= n_top <= len(loadings):
        raise ValueError(
            f"n_top must be an integer in [1, {len(loadings)}], got {n_top!r}"
        )
    rows = []
    for column in loadings.columns:
        ordered = loadings[column].sort_values(kind="stable")
        sides = (("negative", ordered.iloc[:n_top]), ("positive", ordered.iloc[::-1]))
        for direction, values in sides:
            for rank, (gene, value) in enumerate(values.iloc[:n_top].items()):
                rows.append((column, direction, rank, gene, float(value)))
    return pd.DataFrame(
        rows, columns=["dimension", "direction", "rank", "gene", "loading"]
    )


class LatentFactorsMixin(SamplingMixin):
    """Queries of :class:`~scvi.inference.Posterior` on latent factors."""

    def get_loadings(self) -> pd.DataFrame:
        """Gene loadings of a linearly decoded model, labelled.

        Returns
        -------
        pandas.DataFrame
            ``(n_genes, n_latent)``: the model's ``get_loadings()`` (see
            :meth:`scvi.models.LDVAE.get_loadings`), indexed by the dataset's
            ``gene_names`` (positions when it has none), columns ``Z_0, Z_1, ...``.
        """
        if not hasattr(self.model, "get_loadings"):
            raise ValueError(
                "get_loadings needs a linearly decoded model (LDVAE), got "
                f"{type(self.model).__name__}"
            )
        loadings = np.asarray(self.model.get_loadings())
        names = getattr(self.gene_dataset, "gene_names", None)
        if names is None or len(names) != len(loadings):
            names = np.arange(len(loadings))
        return pd.DataFrame(
            loadings,
            index=pd.Index(np.asarray(names), name="gene"),
            columns=_factor_names(loadings.shape[1]),
        )

    def get_latent_frame(self, give_mean: bool = True) -> pd.DataFrame:
        """The latent coordinates of the posterior's cells, one column per factor.

        Parameters
        ----------
        give_mean
            The mean of ``q(z | x)`` if True, else one sample of it.

        Returns
        -------
        pandas.DataFrame
            ``(n_cells, n_latent)`` from :meth:`get_latent`, columns ``Z_0, Z_1,
            ...``, indexed by the cells' positions in the dataset (in the order of
            :attr:`indices`).
        """
        latent = self.get_latent(give_mean=give_mean)[0]
        return pd.DataFrame(
            latent,
            index=pd.Index(self.indices, name="cell"),
            columns=_factor_names(latent.shape[1]),
        )
