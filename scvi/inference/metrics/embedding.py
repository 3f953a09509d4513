"""Two-dimensional embeddings of latent spaces for plots."""

from typing import Tuple

import numpy as np
from sklearn.manifold import TSNE

from ._checks import _check_matrix, _check_positive_int


def apply_t_sne(
    latent: np.ndarray, n_samples: int = 1000, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Two-dimensional t-SNE embedding of a random subset of cells.

    ``min(n_samples, n_cells)`` cells are drawn without replacement with
    :func:`numpy.random.permutation` (NumPy's global generator, see
    :func:`scvi.set_seed`) and embedded with :class:`sklearn.manifold.TSNE`
    (``init="pca"``, or ``"random"`` for a one-dimensional ``latent``,
    ``learning_rate="auto"``, ``random_state=seed``). The perplexity is 30,
    lowered to ``(m - 1) / 3`` for ``m < 91`` selected cells.

    Parameters
    ----------
    latent
        Coordinates of the cells, shape ``(n_cells, n_latent)``, at least three
        cells.
    n_samples
        Number of cells to embed.
    seed
        Random state of the t-SNE.

    Returns
    -------
    latent_tsne : numpy.ndarray
        Embedding of the selected cells, shape ``(m, 2)``.
    idx_t_sne : numpy.ndarray
        Indices of the selected cells in ``latent``, shape ``(m,)``, in the order
        of ``latent_tsne``.

    Raises
    ------
    ValueError
        If ``latent`` is not a finite 2-D array of at least three cells or
        ``n_samples`` is not an integer of at least 3.
    """
    latent = _check_matrix(latent, "latent", min_rows=3)
    n_samples = _check_positive_int(n_samples, "n_samples")
    if n_samples < 3:
        raise ValueError(f"n_samples must be at least 3, got {n_samples}")
    n_selected = min(n_samples, latent.shape[0])
    idx_t_sne = np.random.permutation(latent.shape[0])[:n_selected]
    perplexity = min(30.0, (n_selected - 1) / 3.0)
    tsne = TSNE(
        n_components=2,
        init="pca" if latent.shape[1] >= 2 else "random",
        learning_rate="auto",
        perplexity=perplexity,
        random_state=seed,
    )
    latent_tsne = tsne.fit_transform(latent[idx_t_sne])
    return latent_tsne, idx_t_sne
