"""Merging of several GeneExpressionDataset objects on their common genes."""

import logging
from typing import Dict, List, Optional

import numpy as np
import scipy.sparse as sp_sparse

from ._checks import unique_or_raise
from ._registry import CellMeasurement

logger = logging.getLogger("scvi.dataset.dataset")

_RECOMPUTED = ("local_means", "local_vars")


def _stack(parts: List):
    """Stack row blocks, sparse if any block is sparse."""
    if any(sp_sparse.issparse(p) for p in parts):
        return sp_sparse.vstack([sp_sparse.csr_matrix(p) for p in parts], format="csr")
    return np.concatenate([np.asarray(p) for p in parts])


def _union(mappings: List[np.ndarray]) -> np.ndarray:
    """Union of mapping values in order of first appearance."""
    seen = dict()
    for mapping in mappings:
        for value in np.asarray(mapping).tolist():
            seen.setdefault(value, None)
    return np.asarray(list(seen))


def _positions(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Position in ``reference`` of each entry of ``values`` (all present)."""
    lookup = {v: i for i, v in enumerate(np.asarray(reference).tolist())}
    return np.array([lookup[v] for v in np.asarray(values).tolist()], dtype=np.int64)


def _common_genes(datasets) -> List[np.ndarray]:
    """For each dataset, the positions of the genes that all datasets share."""
    for i, dataset in enumerate(datasets):
        unique_or_raise(dataset.gene_names, "gene_names", f"dataset {i}")
    names = [np.asarray(d.gene_names).astype(str) for d in datasets]
    common = names[0]
    for other in names[1:]:
        common = common[np.isin(common, other)]
    if common.size == 0:
        raise ValueError("the datasets share no gene name: nothing to merge")
    logger.info(
        "Keeping %i genes common to the %i datasets", common.size, len(datasets)
    )
    return [_positions(common, n) for n in names]


def _categorical(name: str, datasets, shared_mapping: Optional[str], shared: bool):
    """Merge one categorical attribute; return codes and merged mappings."""
    codes = [np.asarray(getattr(d, name)).reshape(-1) for d in datasets]
    mapping_names = [
        m
        for m in datasets[0].attribute_mappings[name]
        if all(m in d.attribute_mappings[name] for d in datasets)
    ]
    if shared and shared_mapping is not None:
        for i, d in enumerate(datasets):
            if shared_mapping not in d.attribute_mappings[name]:
                raise ValueError(
                    f"mapping_reference_for_sharing: dataset {i} has no mapping "
                    f"{shared_mapping!r} for {name!r}"
                )
        values = [np.asarray(getattr(d, shared_mapping)) for d in datasets]
        union = _union(values)
        merged = [_positions(v, union)[c] for v, c in zip(values, codes)]
        return np.concatenate(merged), {shared_mapping: union}
    if shared:  # shared codes without a mapping: concatenate as they are
        return np.concatenate(codes), {}
    # kept apart: offset codes by the number of categories before them
    merged, offset = [], 0
    for d, c in zip(datasets, codes):
        merged.append(c + offset)
        sizes = {len(getattr(d, m)) for m in mapping_names}
        if len(sizes) > 1:  # mappings of unequal length cannot be concatenated
            mapping_names = []
        offset += max(list(sizes) + [int(c.max()) + 1 if c.size else 0])
    mappings = {
        m: np.concatenate([np.asarray(getattr(d, m)) for d in datasets])
        for m in mapping_names
    }
    return np.concatenate(merged), mappings


def _measurements(datasets, intersection: Dict[str, bool]) -> List[CellMeasurement]:
    """Merge cell measurements on the sorted intersection or union of their columns."""
    first = datasets[0].cell_measurements_col_mappings
    merged = []
    for name, columns_attr in first.items():
        if not all(
            d.cell_measurements_col_mappings.get(name) == columns_attr for d in datasets
        ):
            logger.info("Dropping measurement %s, absent from some datasets", name)
            continue
        columns = [np.asarray(getattr(d, columns_attr)) for d in datasets]
        data = [getattr(d, name) for d in datasets]
        # the merged columns are sorted (scVI 0.6.8's order), for both modes
        if intersection.get(name, True):
            kept = columns[0][np.all([np.isin(columns[0], c) for c in columns], axis=0)]
            kept = np.sort(kept)
            blocks = [x[:, _positions(kept, c)] for x, c in zip(data, columns)]
        else:
            kept = np.sort(_union(columns))
            blocks = []
            for x, c in zip(data, columns):
                cols = _positions(c, kept)
                if sp_sparse.issparse(x):
                    x = sp_sparse.csr_matrix(x)
                    block = sp_sparse.csr_matrix(
                        (x.data, cols[x.indices], x.indptr),
                        shape=(x.shape[0], len(kept)),
                    )
                else:
                    block = np.zeros((x.shape[0], len(kept)), dtype=np.asarray(x).dtype)
                    block[:, cols] = x
                blocks.append(block)
        merged.append(CellMeasurement(name, _stack(blocks), columns_attr, kept))
    return merged


def merge_datasets(
    datasets,
    shared_labels: bool = True,
    mapping_reference_for_sharing: Optional[Dict[str, Optional[str]]] = None,
    cell_measurement_intersection: Optional[Dict[str, bool]] = None,
) -> dict:
    """Merge datasets on their common genes, without modifying them.

    See :meth:`GeneExpressionDataset.populate_from_datasets` for the rules.

    Returns
    -------
    dict
        Keyword arguments of ``GeneExpressionDataset._populate``: ``X``,
        ``cell_attributes``, ``categorical``, ``gene_attributes``, ``mappings`` and
        ``measurements``.
    """
    datasets = list(datasets) if datasets is not None else []
    if not datasets:
        raise ValueError("gene_datasets_list must hold at least one dataset")
    for i, d in enumerate(datasets):
        if getattr(d, "X", None) is None:
            raise ValueError(f"gene_datasets_list[{i}] is not a populated dataset")
    genes = _common_genes(datasets)
    X = _stack([d.X[:, g] for d, g in zip(datasets, genes)])
    first = datasets[0]
    gene_attributes = {
        name: np.asarray(getattr(first, name))[genes[0]]
        for name in first.gene_attribute_names
    }
    sharing = dict(mapping_reference_for_sharing or {})
    if shared_labels:
        sharing.setdefault("labels", "cell_types")
    measured = set()
    for d in datasets:
        measured.update(d.cell_measurements_col_mappings)
    cell_attributes, mappings, categorical = {}, {}, []
    for name in first.cell_attribute_names:
        if name in _RECOMPUTED or name in measured:
            continue
        if not all(name in d.cell_attribute_names for d in datasets):
            logger.info("Dropping cell attribute %s, absent from some datasets", name)
            continue
        if name in first.cell_categorical_attribute_names:
            categorical.append(name)
            codes, mapping = _categorical(
                name, datasets, sharing.get(name), name in sharing
            )
            cell_attributes[name], mappings[name] = codes, mapping
        else:
            cell_attributes[name] = _stack([getattr(d, name) for d in datasets])
    return dict(
        X=X,
        cell_attributes=cell_attributes,
        categorical=categorical,
        gene_attributes=gene_attributes,
        mappings=mappings,
        measurements=_measurements(datasets, cell_measurement_intersection or {}),
    )
