"""Conversion of a GeneExpressionDataset to an AnnData object."""

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp_sparse


def dataset_to_anndata(dataset) -> anndata.AnnData:
    """Convert a dataset to :class:`anndata.AnnData`; see ``to_anndata``."""

    obs, obsm = {}, {}
    for name in dataset.cell_attribute_names:
        values = getattr(dataset, name)
        if sp_sparse.issparse(values) or (values.ndim > 1 and values.shape[1] > 1):
            obsm[name] = values
        else:
            obs[name] = np.asarray(values).reshape(-1)
    cell_types = getattr(dataset, "cell_types", None)
    if cell_types is not None and "labels" in dataset.cell_attribute_names:
        names = np.asarray(cell_types).astype(str)
        codes = dataset.labels.reshape(-1)
        if len(np.unique(names)) == len(names):
            obs["cell_types"] = pd.Categorical.from_codes(codes, categories=names)
        else:
            obs["cell_types"] = names[codes]
    obs = pd.DataFrame(obs)
    obs.index = obs.index.astype(str)
    var = pd.DataFrame(
        {name: getattr(dataset, name) for name in dataset.gene_attribute_names}
    )
    var.index = pd.Index(dataset.gene_names.astype(str), name=None)
    uns = {
        "cell_measurements_col_mappings": dict(dataset.cell_measurements_col_mappings)
    }
    for mappings in dataset.attribute_mappings.values():
        for mapping_name in mappings:
            uns[mapping_name] = np.asarray(getattr(dataset, mapping_name))
    for columns_attr in dataset.cell_measurements_col_mappings.values():
        uns[columns_attr] = np.asarray(getattr(dataset, columns_attr))
    return anndata.AnnData(X=dataset.X, obs=obs, var=var, obsm=obsm, uns=uns)
