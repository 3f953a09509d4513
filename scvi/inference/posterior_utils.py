"""Helpers users call next to a Posterior: metrics, plots, summaries of samples,
sample pairing, the xlsx export of differential expression, and ``load_posterior``
(the public names of scVI 0.6.8's module; all but ``load_posterior`` are defined
in :mod:`.metrics`, :mod:`.summaries`, :mod:`.differential_expression` and
:mod:`.de_output`).

``load_posterior`` lives here (and in :mod:`scvi.inference`). It finds the class of
a saved posterior in :data:`POSTERIOR_CLASSES`, an explicit table: a new posterior
class is added there.
"""

import json
import os
from typing import Union

import numpy as np
import torch

from .de_output import save_cluster_xlsx
from .differential_expression import pairs_sampler
from .posterior.annotation import AnnotationPosterior
from .posterior.base import POSTERIOR_FILES, resolve_use_cuda
from .posterior.total import TotalPosterior
from .metrics import (
    entropy_batch_mixing,
    entropy_from_indices,
    knn_purity,
    nn_overlap,
    plot_imputation,
    proximity_imputation,
    unsupervised_clustering_accuracy,
)
from .posterior import Posterior
from .summaries import credible_intervals, describe_continuous_distrib

#: the posterior classes ``load_posterior`` knows, by the type name saved with them
POSTERIOR_CLASSES = {
    cls.__name__: cls for cls in (Posterior, AnnotationPosterior, TotalPosterior)
}

# a directory written by scVI 0.6.8's save_posterior names the class in this file;
# its data loader arguments (data_loader_kwargs.h5) are a pickled pandas object,
# which is not read: the batch size is 0.6.8's default
SCVI_068_TYPE_FILE = "posterior_type.txt"


def _scvi_068_attributes(dir_path: str) -> dict:
    """The settings of a posterior saved by scVI 0.6.8."""
    with open(os.path.join(dir_path, SCVI_068_TYPE_FILE)) as f:
        return {"posterior_type": f.read().strip(), "batch_size": 128}


__all__ = [
    "load_posterior",
    "entropy_batch_mixing",
    "knn_purity",
    "nn_overlap",
    "plot_imputation",
    "unsupervised_clustering_accuracy",
    "credible_intervals",
    "describe_continuous_distrib",
    "pairs_sampler",
    "save_cluster_xlsx",
    "entropy_from_indices",
    "proximity_imputation",
]


def load_posterior(
    dir_path: str, model, use_cuda: Union[str, bool, None] = "auto", **posterior_kwargs
):
    """Function to use in order to retrieve a posterior that was saved using the
    ``save_posterior`` method.

    Because of pytorch model loading usage, this function needs a scVI model object
    initialized with exact same parameters that during training. Because saved
    posteriors correspond to already trained models, data is loaded sequentially
    using a sequential sampler.

    Parameters
    ----------
    dir_path
        Directory containing the posterior properties to be retrieved: written by
        :meth:`~scvi.inference.Posterior.save_posterior`, or by scVI 0.6.8's
        (``posterior_type.txt``; its pickled ``data_loader_kwargs.h5`` is not
        read, the batch size is 128).
    model
        scVI initialized model.
    use_cuda
        Specifies if the computations should be performed with a GPU. If
        ``"auto"``, then cuda availability is inferred, with a preference to load
        on GPU. If False, the model will be loaded on the CPU, even if it was
        trained using a GPU.
    **posterior_kwargs
        Additional parameters to feed to the posterior constructor.

    Returns
    -------
    Posterior
        A posterior of the saved class over the saved cells, in their order.

    Examples
    --------
    >>> model = VAE(nb_genes, n_batches, n_hidden=128, n_latent=10)
    >>> trainer = UnsupervisedTrainer(model, dataset, train_size=0.5)
    >>> trainer.train(n_epochs=200)
    >>> trainer.train_set.save_posterior("./my_run_train_posterior")
    >>> model = VAE(nb_genes, n_batches, n_hidden=128, n_latent=10)
    >>> post = load_posterior("./my_run_train_posterior", model=model)
    """
    from ..dataset import AnnDatasetFromAnnData
    import anndata

    dir_path = os.fspath(dir_path)
    paths = {key: os.path.join(dir_path, name) for key, name in POSTERIOR_FILES.items()}
    if not os.path.exists(paths["attributes"]) and os.path.exists(
        os.path.join(dir_path, SCVI_068_TYPE_FILE)
    ):
        attributes = _scvi_068_attributes(dir_path)
        del paths["attributes"]
    else:
        attributes = None
    missing = [p for p in paths.values() if not os.path.exists(p)]
    if missing:
        raise ValueError(
            f"dir_path {dir_path!r} does not hold a saved posterior: missing "
            f"{', '.join(os.path.basename(p) for p in missing)}"
        )
    if attributes is None:
        with open(paths["attributes"]) as f:
            attributes = json.load(f)
    posterior_type = attributes.get("posterior_type", "Posterior")
    posterior_class = POSTERIOR_CLASSES.get(posterior_type)
    if posterior_class is None:
        raise ValueError(
            f"the saved posterior is a {posterior_type!r}, a class this version of "
            f"scvi does not know; known: {sorted(POSTERIOR_CLASSES)}"
        )
    dataset = AnnDatasetFromAnnData(anndata.read_h5ad(paths["dataset"]))
    device = "cuda" if resolve_use_cuda(use_cuda) else "cpu"
    state = torch.load(paths["model"], map_location=device, weights_only=True)
    model.load_state_dict(state)
    model.to(device)
    model.eval()
    indices = np.load(paths["indices"])
    posterior_kwargs.setdefault(
        "data_loader_kwargs", {"batch_size": attributes.get("batch_size", 128)}
    )
    posterior = posterior_class(
        model,
        dataset,
        indices=indices,
        use_cuda=device == "cuda",
        **posterior_kwargs,
    )
    return posterior.sequential(posterior.data_loader.batch_size)
