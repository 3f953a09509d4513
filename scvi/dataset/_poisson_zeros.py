"""The ``"poisson_zeros"`` selection of genes (scVI 0.6.8, after M3Drop).

Genes are ranked by how much more often they are zero than a Poisson model of the
counts predicts (Andrews & Hemberg 2019). Under the model, the count of gene ``g``
in cell ``c`` has the mean ``L_c * S_g / T`` (``L_c``: total count of the cell,
``S_g``: total count of the gene, ``T``: total count), so that the expected fraction
of cells where the gene is zero is the mean over cells of ``exp(-L_c * S_g / T)``.

The enrichment of zeros is, as scVI 0.6.8 computed it, the probability that a
Bernoulli draw with the observed fraction of zeros exceeds one with the expected
fraction, estimated from ``n_samples`` pairs of draws; it estimates
``observed * (1 - expected)``. The draws come from torch's global generator in
scVI 0.6.8's order, so that ``torch.manual_seed`` reproduces its values.
"""

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ._checks import check_positive_int
from ._matrix import canonical_counts, col_sums, nonzero_count, row_sums
from ._ranking import legacy_ranks, select_by_batches

# float64 values held at once by the expected fraction of zeros (32 MB)
_CHUNK_VALUES = 1 << 22
# float32 draws held at once by the sampling
_DRAWS = 1 << 24


def zero_fractions(X, minibatch_size: int = 5000):
    """Observed (float64) and expected (float32) fractions of zeros of every gene.

    Parameters
    ----------
    X
        Raw counts (cells x genes) of one batch, dense or CSR.
    minibatch_size
        Most cells whose Poisson probabilities are held at once.
    """
    n_cells, n_genes = X.shape
    observed = 1 - nonzero_count(X) / n_cells
    cell_totals = row_sums(X)
    gene_totals = col_sums(X)
    total = gene_totals.sum()
    if total <= 0:
        return observed, np.ones(n_genes, dtype=np.float32)
    scaled = gene_totals / total
    step = max(1, min(int(minibatch_size), _CHUNK_VALUES // max(n_genes, 1)))
    expected = np.zeros(n_genes)
    for start in range(0, n_cells, step):
        rate = np.outer(cell_totals[start : start + step], scaled)
        expected += np.exp(-rate).sum(axis=0)
    return observed, (expected / n_cells).astype(np.float32)


def zero_enrichment(
    observed, expected, n_samples: int = 10000, use_cuda=False, silent=False
) -> np.ndarray:
    """Probability that a draw of observed zeros exceeds a draw of expected zeros.

    Every sample draws a Bernoulli of probability ``observed`` then one of
    probability ``expected`` for every gene, from torch's global generator.

    Returns
    -------
    numpy.ndarray
        float32 estimates, multiples of ``1 / n_samples``.
    """
    device = "cuda" if use_cuda and torch.cuda.is_available() else "cpu"
    probs = torch.tensor(
        np.stack([observed, expected]), dtype=torch.float32, device=device
    )
    n_genes = probs.shape[1]
    counts = torch.zeros(n_genes, dtype=torch.float32, device=device)
    step = max(1, _DRAWS // max(2 * n_genes, 1))
    with tqdm(total=n_samples, desc="Sampling from binomial", disable=silent) as bar:
        for start in range(0, n_samples, step):
            size = min(step, n_samples - start)
            # draws in the order of n_samples successive (observed, expected) pairs
            draws = torch.binomial(
                torch.ones(size, 2, n_genes, device=device),
                probs.expand(size, 2, n_genes),
            )
            counts += (draws[:, 0] > draws[:, 1]).to(torch.float32).sum(dim=0)
            bar.update(size)
    return (counts / n_samples).cpu().numpy()


def poisson_zeros_selection(
    X,
    batches,
    n_top_genes: int,
    n_samples: int = 10000,
    use_cuda=False,
    silent=False,
    minibatch_size: int = 5000,
) -> pd.DataFrame:
    """Select the genes whose zeros are most enriched, combining batches as scVI 0.6.8.

    Parameters
    ----------
    X
        Raw counts (cells x genes), dense or CSR.
    batches
        Row positions of every batch (sampled in this order), or None.
    n_top_genes
        Number of genes to select (every gene if it is at least their number).
    n_samples
        Number of pairs of draws estimating every enrichment.
    use_cuda
        Draw on the GPU when one is available (other random numbers than the CPU).
    silent
        If True, no progress bar.
    minibatch_size
        Most cells whose Poisson probabilities are held at once.

    Returns
    -------
    pandas.DataFrame
        ``observed_fraction_zeros``, ``expected_fraction_zeros``,
        ``prob_zero_enriched_nbatches`` (batches where the gene is among the
        ``n_top_genes`` of highest enrichment), ``prob_zero_enrichment``,
        ``prob_zero_enrichment_rank`` (0 for the lowest enrichment of a batch) and
        ``highly_variable``. With batches, the statistics are medians over them.
        Genes are selected by decreasing number of batches, then rank.
    """
    stats = []
    for rows in batches if batches is not None else [None]:
        X_batch = X if rows is None else X[rows]
        observed, expected = zero_fractions(X_batch, minibatch_size)
        enrichment = zero_enrichment(observed, expected, n_samples, use_cuda, silent)
        stats.append((observed, expected, enrichment, legacy_ranks(enrichment)))
    observed, expected, enrichment, ranks = (np.stack(s) for s in zip(*stats))
    median_rank, n_top_batches, hvg = select_by_batches(ranks, n_top_genes)
    return pd.DataFrame(
        dict(
            observed_fraction_zeros=np.median(observed, axis=0),
            expected_fraction_zeros=np.median(expected, axis=0),
            prob_zero_enriched_nbatches=n_top_batches,
            prob_zero_enrichment=np.median(enrichment, axis=0),
            prob_zero_enrichment_rank=median_rank,
            highly_variable=hvg,
        )
    )


def poisson_gene_selection(
    adata,
    n_top_genes: int = 4000,
    use_cuda=True,
    n_samples: int = 10000,
    batch_key=None,
    silent: bool = False,
    minibatch_size: int = 5000,
    **kwargs,
) -> None:
    """Rank and select genes by their enrichment in zeros under a Poisson model.

    Based on M3Drop (Andrews & Hemberg 2019), as scVI 0.6.8 did it: see
    :func:`poisson_zeros_selection`. Library sizes are accounted for by the model,
    so ``adata.X`` must hold raw counts.

    Parameters
    ----------
    adata
        :class:`anndata.AnnData` with raw counts in ``X`` (dense or sparse).
    n_top_genes
        Number of genes to select (every gene if there are fewer).
    use_cuda
        Draw the samples on the GPU when one is available.
    n_samples
        Number of Bernoulli samples estimating the enrichment of every gene.
    batch_key
        Column of ``adata.obs`` with the batch of every cell; batches are handled
        in the order of their sorted values. If None, one batch.
    silent
        If True, no progress bar.
    minibatch_size
        Most cells whose Poisson probabilities are held at once.
    **kwargs
        Accepted and ignored, as in scVI 0.6.8.

    Returns
    -------
    None
        ``adata.var`` gets, in place, the columns of
        :func:`poisson_zeros_selection`.

    Raises
    ------
    KeyError
        If ``batch_key`` is not a column of ``adata.obs``.
    ValueError
        If ``n_top_genes`` or ``n_samples`` is not a positive int.
    """
    check_positive_int(n_top_genes, "n_top_genes")
    check_positive_int(n_samples, "n_samples")
    batches = None
    if batch_key is not None:
        if batch_key not in adata.obs:
            raise KeyError(f"batch_key={batch_key!r} is not a column of adata.obs")
        values = np.asarray(adata.obs[batch_key])
        rows = [np.flatnonzero(values == value) for value in np.unique(values)]
        batches = rows if len(rows) > 1 else None
    result = poisson_zeros_selection(
        canonical_counts(adata.X),
        batches,
        int(n_top_genes),
        n_samples=int(n_samples),
        use_cuda=use_cuda,
        silent=silent,
        minibatch_size=minibatch_size,
    )
    for name in result.columns:
        adata.var[name] = result[name].to_numpy()
