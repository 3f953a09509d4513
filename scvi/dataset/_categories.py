"""Remapping of categorical cell attributes (labels, batches) to [0, N)."""

from typing import Dict, Optional, Tuple, Union

import numpy as np


def remap_categories(
    original_categories,
    mapping_from=None,
    mapping_to=None,
    mappings_dict: Optional[Dict[str, np.ndarray]] = None,
) -> Union[Tuple[np.ndarray, int], Tuple[np.ndarray, int, Dict[str, np.ndarray]]]:
    """Remap the codes of a categorical array.

    Each value ``mapping_from[i]`` becomes ``mapping_to[i]``.

    Parameters
    ----------
    original_categories
        Integer codes of any shape.
    mapping_from
        Codes to map from; by default the sorted distinct values of
        ``original_categories``. Every value of ``original_categories`` must be in it.
    mapping_to
        Codes to map to, as long as ``mapping_from``; by default ``0, ..., N - 1``.
    mappings_dict
        Mappings of the categorical (e.g. ``{"cell_types": array}``, where entry ``c``
        names code ``c``). Each is reordered so that its entry ``mapping_to[i]`` is
        the old entry ``mapping_from[i]``.

    Returns
    -------
    new_categories : numpy.ndarray
        The remapped codes, int64, with the shape of ``original_categories``.
    n_categories : int
        Number of distinct new codes.
    new_mappings : dict
        The reordered mappings; returned only when ``mappings_dict`` is given.

    Raises
    ------
    ValueError
        If a code is not in ``mapping_from`` or the two mappings differ in length.

    Examples
    --------
    >>> remap_categories(np.array([3, 5, 3]))[0]
    array([0, 1, 0])
    """
    original = np.asarray(original_categories)
    if mapping_from is None:
        mapping_from = np.unique(original)
    mapping_from = np.asarray(mapping_from).reshape(-1)
    if mapping_to is None:
        mapping_to = np.arange(len(mapping_from))
    mapping_to = np.asarray(mapping_to).reshape(-1)
    if len(mapping_to) != len(mapping_from):
        raise ValueError(
            f"mapping_to has {len(mapping_to)} entries, mapping_from has "
            f"{len(mapping_from)}: they must be as long"
        )
    order = np.argsort(mapping_from, kind="stable")
    sorted_from = mapping_from[order]
    flat = original.reshape(-1)
    pos = np.searchsorted(sorted_from, flat)
    pos = np.clip(pos, 0, max(len(sorted_from) - 1, 0))
    if flat.size and (len(sorted_from) == 0 or np.any(sorted_from[pos] != flat)):
        missing = np.setdiff1d(flat, mapping_from)[:10].tolist()
        raise ValueError(
            f"original_categories has codes not in mapping_from: {missing}"
        )
    new = mapping_to[order][pos].astype(np.int64).reshape(original.shape)
    n_categories = len(np.unique(mapping_to))
    if mappings_dict is None:
        return new, n_categories
    new_mappings = {}
    for name, mapping in mappings_dict.items():
        mapping = np.asarray(mapping)
        if len(mapping_from) and mapping_from.max() >= len(mapping):
            raise ValueError(
                f"mapping {name!r} has {len(mapping)} entries but codes go up to "
                f"{mapping_from.max()}"
            )
        size = int(mapping_to.max()) + 1 if len(mapping_to) else 0
        reordered = np.empty(size, dtype=mapping.dtype)
        reordered[mapping_to] = mapping[mapping_from]
        new_mappings[name] = reordered
    return new, n_categories, new_mappings
