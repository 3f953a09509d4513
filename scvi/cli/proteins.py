"""The protein counts of ``scvi train --model totalvi``: read from an ``.h5ad``
``obsm`` key (``--protein-key``), or found in the dataset read (10x antibody
capture, the demo dataset), then checked."""

import logging
from typing import Optional, Tuple

import numpy as np

logger = logging.getLogger(__name__)

#: the obsm key read by ``--model totalvi`` when ``--protein-key`` is not given
DEFAULT_PROTEIN_KEY = "protein_expression"


def _available_obsm(ad) -> str:
    return ", ".join(repr(str(key)) for key in ad.obsm.keys()) or "none"


def proteins_from_obsm(
    ad, key: Optional[str], path: str
) -> Tuple[np.ndarray, np.ndarray]:
    """The protein counts ``ad.obsm[key]`` of an AnnData and their names.

    The names come from ``uns`` (the columns attribute that
    ``uns["cell_measurements_col_mappings"]`` gives ``key``, else
    ``uns["protein_names"]``), else from the columns of an obsm DataFrame, else
    they are ``p0``, ``p1``, ...

    Parameters
    ----------
    ad
        The AnnData read from ``path``.
    key
        The obsm key holding the protein counts (cells x proteins), as given by
        ``--protein-key``; None: :data:`DEFAULT_PROTEIN_KEY`.
    path
        The file read, for the error messages.

    Returns
    -------
    counts : np.ndarray
        ``(n_cells, n_proteins)`` float32.
    names : np.ndarray
        ``(n_proteins,)`` str.

    Raises
    ------
    ValueError
        If ``key`` is not in obsm, is not one row per cell, or its names in
        ``uns`` do not match its columns.
    """
    import pandas as pd
    import scipy.sparse as sp_sparse

    if key is None and DEFAULT_PROTEIN_KEY not in ad.obsm:
        raise ValueError(
            f"--model totalvi needs protein counts but {path} has no "
            f"obsm[{DEFAULT_PROTEIN_KEY!r}]: give --protein-key KEY, the obsm key "
            f"of the protein counts; obsm has: {_available_obsm(ad)}"
        )
    key = DEFAULT_PROTEIN_KEY if key is None else key
    if key not in ad.obsm:
        raise ValueError(
            f"--protein-key {key!r}: {path} has no such obsm key (--model totalvi "
            f"reads the protein counts there); obsm has: {_available_obsm(ad)}"
        )
    data = ad.obsm[key]
    frame_columns = None
    if isinstance(data, pd.DataFrame):
        frame_columns = data.columns.to_numpy()
        data = data.to_numpy()
    if sp_sparse.issparse(data):
        data = data.toarray()
    try:
        counts = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            f"--protein-key {key!r}: obsm[{key!r}] of {path} is not a numeric matrix"
        ) from None
    if counts.ndim == 1:
        counts = counts.reshape(-1, 1)
    if counts.ndim != 2 or counts.shape[1] == 0:
        raise ValueError(
            f"--protein-key {key!r}: obsm[{key!r}] of {path} must be a cells x "
            f"proteins matrix, got shape {counts.shape}"
        )
    mappings = dict(ad.uns.get("cell_measurements_col_mappings", {}) or {})
    names_key = str(mappings.get(key, "protein_names"))
    names = ad.uns.get(names_key)
    if names is not None:
        names = np.asarray(names).reshape(-1).astype(str)
        if len(names) != counts.shape[1]:
            raise ValueError(
                f"--protein-key {key!r}: uns[{names_key!r}] of {path} holds "
                f"{len(names)} protein names but obsm[{key!r}] has "
                f"{counts.shape[1]} columns"
            )
    elif frame_columns is not None:
        names = np.asarray(frame_columns).astype(str)
    else:
        names = np.array([f"p{i}" for i in range(counts.shape[1])])
    return counts, names


def check_protein_counts(dataset, where: str, key: str) -> None:
    """Make sure ``dataset`` has protein counts for ``--model totalvi``: refuse
    none, an empty matrix, negative or NaN values; warn about non-integer ones.

    Parameters
    ----------
    dataset
        The dataset read from the input.
    where
        The input, for the messages.
    key
        Where the proteins came from (an obsm key, the antibody capture
        features), for the messages.

    Raises
    ------
    ValueError
        If the proteins are missing or are not counts.
    """
    proteins = getattr(dataset, "protein_expression", None)
    if proteins is None:
        raise ValueError(
            f"--model totalvi needs protein counts but {where} has none: give an "
            ".h5ad file with the counts in obsm (--protein-key KEY, default "
            f"{DEFAULT_PROTEIN_KEY!r}) or a 10x Cell Ranger folder with "
            "'Antibody Capture' features"
        )
    values = np.asarray(proteins)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(f"{key} of {where} holds no protein (shape {values.shape})")
    if np.isnan(values).any():
        raise ValueError(
            f"{key} of {where} holds NaN values: totalVI models raw protein counts"
        )
    if values.min() < 0:
        raise ValueError(
            f"{key} of {where} holds negative values: totalVI models raw protein "
            "counts"
        )
    if not np.array_equal(values, np.round(values)):
        logger.warning(
            "%s of %s holds non-integer values: totalVI models raw protein counts",
            key,
            where,
        )
