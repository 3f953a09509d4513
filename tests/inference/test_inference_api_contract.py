"""The training and posterior API of chapter 7 of the manual, signature by signature."""

import inspect

import pytest

import scvi.inference
from scvi.inference import (
    AdapterTrainer,
    Posterior,
    Trainer,
    UnsupervisedTrainer,
    load_posterior,
)

REQUIRED = object()

# callable -> (parameter, default) in order, from chapter 7 of the scVI 0.6.3 manual
DOCUMENTED = {
    Trainer.__init__: [
        ("model", REQUIRED),
        ("gene_dataset", REQUIRED),
        ("use_cuda", True),
        ("metrics_to_monitor", None),
        ("benchmark", False),
        ("frequency", None),
        ("weight_decay", 1e-6),
        ("early_stopping_kwargs", None),
        ("data_loader_kwargs", None),
        ("show_progbar", True),
        ("batch_size", 128),
        ("seed", 0),
        ("max_nans", 10),
    ],
    Trainer.train: [("n_epochs", 400), ("lr", 1e-3), ("eps", 0.01), ("params", None)],
    Trainer.train_test_validation: [
        ("model", None),
        ("gene_dataset", None),
        ("train_size", 0.1),
        ("test_size", None),
        ("type_class", Posterior),
    ],
    Trainer.create_posterior: [
        ("model", None),
        ("gene_dataset", None),
        ("shuffle", False),
        ("indices", None),
        ("type_class", Posterior),
    ],
    Trainer.corrupt_posteriors: [
        ("rate", 0.1),
        ("corruption", "uniform"),
        ("update_corruption", True),
    ],
    Trainer.register_posterior: [("name", REQUIRED), ("value", REQUIRED)],
    UnsupervisedTrainer.__init__: [
        ("model", REQUIRED),
        ("gene_dataset", REQUIRED),
        ("train_size", 0.8),
        ("test_size", None),
        ("n_iter_kl_warmup", None),
        ("n_epochs_kl_warmup", 400),
        ("normalize_loss", None),
    ],
    AdapterTrainer.__init__: [
        ("model", REQUIRED),
        ("gene_dataset", REQUIRED),
        ("posterior_test", REQUIRED),
        ("frequency", 5),
    ],
    AdapterTrainer.train: [("n_path", 10), ("n_epochs", 50)],
    Posterior.__init__: [
        ("model", REQUIRED),
        ("gene_dataset", REQUIRED),
        ("shuffle", False),
        ("indices", None),
        ("use_cuda", True),
        ("data_loader_kwargs", None),  # the manual's {} default, without sharing
    ],
    Posterior.get_latent: [("give_mean", True)],
    Posterior.get_sample_scale: [("transform_batch", None)],
    Posterior.imputation: [("n_samples", 1), ("transform_batch", None)],
    Posterior.generate: [("n_samples", 100), ("genes", None), ("batch_size", 128)],
    Posterior.generate_parameters: [("n_samples", 1), ("give_mean", False)],
    Posterior.generate_denoised_samples: [
        ("n_samples", 25),
        ("batch_size", 64),
        ("rna_size_factor", 1000),
        ("transform_batch", None),
    ],
    Posterior.generate_feature_correlation_matrix: [
        ("n_samples", 10),
        ("batch_size", 64),
        ("rna_size_factor", 1000),
        ("transform_batch", None),
        ("correlation_type", "spearman"),
    ],
    Posterior.marginal_ll: [("n_mc_samples", 1000)],
    Posterior.clustering_scores: [("prediction_algorithm", "knn")],
    Posterior.imputation_list: [("n_samples", 1)],
    Posterior.imputation_score: [
        ("original_list", None),
        ("imputed_list", None),
        ("n_samples", 1),
    ],
    Posterior.imputation_benchmark: [
        ("n_samples", 8),
        ("show_plot", True),
        ("title_plot", "imputation"),
        ("save_path", ""),
    ],
    Posterior.apply_t_sne: [("latent", REQUIRED), ("n_samples", 1000)],
    Posterior.show_t_sne: [
        ("n_samples", 1000),
        ("color_by", ""),
        ("save_name", ""),
        ("latent", None),
        ("batch_indices", None),
        ("labels", None),
        ("n_batch", None),
    ],
    Posterior.sequential: [("batch_size", 128)],
    Posterior.update: [("data_loader_kwargs", REQUIRED)],
    Posterior.update_sampler_indices: [("idx", REQUIRED)],
    Posterior.save_posterior: [("dir_path", REQUIRED)],
    Posterior.to_cuda: [("tensors", REQUIRED)],
    load_posterior: [("dir_path", REQUIRED), ("model", REQUIRED), ("use_cuda", "auto")],
}


def documented_parameters(function):
    parameters = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return [
        (p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default)
        for p in parameters
    ]


@pytest.mark.parametrize(
    "function", list(DOCUMENTED), ids=lambda f: f.__qualname__.replace(".", "-")
)
def test_signature_matches_the_manual(function):
    # the manual's parameters, in its order; extensions come after them, as
    # keyword-only parameters with defaults, so that scVI 0.6 calls are unchanged
    parameters = documented_parameters(function)
    manual = DOCUMENTED[function]
    assert parameters[: len(manual)] == manual
    signature = inspect.signature(function).parameters
    for name, default in parameters[len(manual) :]:
        assert signature[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert default is not REQUIRED, name


def test_posterior_has_every_documented_query():
    queries = [
        "elbo", "reconstruction_error", "entropy_batch_mixing", "knn_purity",
        "nn_overlap_score", "corrupted", "uncorrupted", "raw_data", "get_stats",
        "accuracy", "indices", "nb_cells", "posterior_type",
    ]  # fmt: skip
    for name in queries:
        assert hasattr(Posterior, name), name


def test_public_exports():
    for name in ["Trainer", "Posterior", "UnsupervisedTrainer", "AdapterTrainer",
                 "load_posterior"]:  # fmt: skip
        assert name in scvi.inference.__all__
    from scvi.inference import posterior_utils

    for name in ["load_posterior", "entropy_batch_mixing", "knn_purity", "nn_overlap",
                 "plot_imputation"]:  # fmt: skip
        assert callable(getattr(posterior_utils, name))
    assert UnsupervisedTrainer.default_metrics_to_monitor == ["elbo"]
    assert Trainer.default_metrics_to_monitor == []
