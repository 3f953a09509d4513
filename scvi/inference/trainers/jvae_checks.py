"""Checks that a list of datasets can feed a JVAE (gimVI)."""

from typing import Sequence

import numpy as np

from ...models.jvae import JVAE


def check_jvae_datasets(model, gene_dataset_list: Sequence) -> None:
    """Raise a ValueError naming the problem when ``gene_dataset_list`` cannot feed
    the JVAE ``model``.

    Checked: one dataset per dataset of the model, each non-empty and with the
    model's number of genes for it (``dim_input_list``, the length of its
    ``indices_mappings``); no cell without counts where the library is observed
    (``model_library_bools`` False: its log would be infinite); batch indices
    within the model's ``n_batch`` and disjoint between datasets (the decoder and
    the ``"gene-batch"`` dispersion tell the datasets apart by their batches);
    labels within ``n_labels`` for the ``"gene-label"`` dispersion.
    """
    if not isinstance(model, JVAE):
        raise ValueError(f"model must be a JVAE, got a {type(model).__name__}")
    if isinstance(gene_dataset_list, (str, bytes)) or not hasattr(
        gene_dataset_list, "__len__"
    ):
        raise ValueError("gene_dataset_list must be a list of datasets")
    if len(gene_dataset_list) != model.n_dataset:
        raise ValueError(
            f"gene_dataset_list holds {len(gene_dataset_list)} datasets, the model "
            f"was built for {model.n_dataset} (len(dim_input_list))"
        )
    if model.dispersion == "gene-batch" and model.n_batch < 1:
        raise ValueError(
            "the JVAE has dispersion='gene-batch' but n_batch=0: build it with "
            "n_batch=sum(d.n_batches for d in gene_dataset_list), or another "
            "dispersion"
        )
    seen = {}
    for i, dataset in enumerate(gene_dataset_list):
        if len(dataset) == 0:
            raise ValueError(f"gene_dataset_list[{i}] is empty (no cell)")
        if dataset.nb_genes != model.n_input_list[i]:
            raise ValueError(
                f"gene_dataset_list[{i}] has {dataset.nb_genes} genes but the model "
                f"maps {model.n_input_list[i]} genes for it (dim_input_list[{i}], "
                f"indices_mappings[{i}])"
            )
        if not model.model_library_bools[i]:
            library = np.asarray(dataset.X.sum(axis=1)).ravel()
            if (library <= 0).any():
                raise ValueError(
                    f"gene_dataset_list[{i}] has {int((library <= 0).sum())} cells "
                    "without counts, whose observed library (model_library_bools"
                    f"[{i}]=False) has an infinite log; remove them with "
                    "filter_cells_by_count(1)"
                )
        if model.dispersion == "gene-label":
            labels = np.asarray(dataset.labels).ravel()
            if labels.min() < 0 or labels.max() >= model.n_labels:
                raise ValueError(
                    f"gene_dataset_list[{i}] has labels outside [0, "
                    f"{model.n_labels}) (the model's n_labels)"
                )
        if model.n_batch < 1:
            continue
        batches = np.unique(np.asarray(dataset.batch_indices).ravel())
        if batches.min() < 0 or batches.max() >= model.n_batch:
            raise ValueError(
                f"gene_dataset_list[{i}] has batch indices {batches.tolist()} "
                f"outside [0, {model.n_batch}) (the model's n_batch)"
            )
        for batch in batches:
            if int(batch) in seen:
                raise ValueError(
                    f"gene_dataset_list[{seen[int(batch)]}] and gene_dataset_list"
                    f"[{i}] share batch index {int(batch)}: each dataset needs its "
                    "own batches (e.g. second.batch_indices += first.n_batches)"
                )
            seen[int(batch)] = i
