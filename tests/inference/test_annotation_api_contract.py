"""The annotation API of chapter 7 of the manual (and of scVI 0.6's
``scvi.inference.annotation``), signature by signature."""

import inspect

import pytest

import scvi.inference
from scvi.inference import annotation
from scvi.inference.annotation import (
    AlternateSemiSupervisedTrainer,
    AnnotationPosterior,
    ClassifierTrainer,
    JointSemiSupervisedTrainer,
    SemiSupervisedTrainer,
)

REQUIRED = object()

# callable -> (parameter, default) in order; *args and **kwargs are left out
DOCUMENTED = {
    SemiSupervisedTrainer.__init__: [
        ("model", REQUIRED),
        ("gene_dataset", REQUIRED),
        ("n_labelled_samples_per_class", 50),
        ("n_epochs_classifier", 1),
        ("lr_classification", 0.005),
        ("classification_ratio", 50),
        ("seed", 0),
    ],
    SemiSupervisedTrainer.create_posterior: [
        ("model", None),
        ("gene_dataset", None),
        ("shuffle", False),
        ("indices", None),
        ("type_class", AnnotationPosterior),
    ],
    SemiSupervisedTrainer.loss: [
        ("tensors_all", REQUIRED),
        ("tensors_labelled", REQUIRED),
    ],
    JointSemiSupervisedTrainer.__init__: [
        ("model", REQUIRED),
        ("gene_dataset", REQUIRED),
    ],
    AlternateSemiSupervisedTrainer.__init__: [],
    AlternateSemiSupervisedTrainer.loss: [("all_tensor", REQUIRED)],
    ClassifierTrainer.__init__: [
        ("train_size", 0.8),
        ("test_size", None),
        ("sampling_model", None),
        ("sampling_zl", False),
        ("use_cuda", True),
    ],
    ClassifierTrainer.compute_predictions: [("soft", False)],
    ClassifierTrainer.loss: [("tensors_labelled", REQUIRED)],
    AnnotationPosterior.__init__: [
        ("model", REQUIRED),
        ("gene_dataset", REQUIRED),
        ("shuffle", False),
        ("indices", None),
        ("use_cuda", True),
        ("data_loader_kwargs", None),
        ("model_zl", False),
        ("sampling_model", None),  # an addition: a classifier of a latent space
    ],
    AnnotationPosterior.accuracy: [],
    AnnotationPosterior.hierarchical_accuracy: [],
    AnnotationPosterior.compute_predictions: [("soft", False)],
    AnnotationPosterior.unsupervised_classification_accuracy: [],
    AnnotationPosterior.nn_latentspace: [("posterior", REQUIRED)],
    annotation.compute_accuracy_tuple: [("y", REQUIRED), ("y_pred", REQUIRED)],
    annotation.compute_accuracy_nn: [
        ("data_train", REQUIRED),
        ("labels_train", REQUIRED),
        ("data_test", REQUIRED),
        ("labels_test", REQUIRED),
        ("k", 5),
    ],
    annotation.compute_accuracy_svc: [
        ("data_train", REQUIRED),
        ("labels_train", REQUIRED),
        ("data_test", REQUIRED),
        ("labels_test", REQUIRED),
        ("param_grid", None),
        ("verbose", 0),
        ("max_iter", -1),
    ],
    annotation.compute_accuracy_rf: [
        ("data_train", REQUIRED),
        ("labels_train", REQUIRED),
        ("data_test", REQUIRED),
        ("labels_test", REQUIRED),
        ("param_grid", None),
        ("verbose", 0),
    ],
    annotation.compute_accuracy_classifier: [
        ("clf", REQUIRED),
        ("data_train", REQUIRED),
        ("labels_train", REQUIRED),
        ("data_test", REQUIRED),
        ("labels_test", REQUIRED),
    ],
    annotation.compute_predictions: [
        ("model", REQUIRED),
        ("data_loader", REQUIRED),
        ("classifier", None),
        ("soft", False),
        ("model_zl", False),
    ],
    annotation.compute_accuracy: [
        ("vae", REQUIRED),
        ("data_loader", REQUIRED),
        ("classifier", None),
        ("model_zl", False),
    ],
    annotation.unsupervised_classification_accuracy: [
        ("model", REQUIRED),
        ("data_loader", REQUIRED),
        ("classifier", None),
        ("model_zl", False),
    ],
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
    assert documented_parameters(function) == DOCUMENTED[function]


def test_class_hierarchy_of_the_manual():
    assert issubclass(SemiSupervisedTrainer, scvi.inference.UnsupervisedTrainer)
    assert issubclass(JointSemiSupervisedTrainer, SemiSupervisedTrainer)
    assert issubclass(AlternateSemiSupervisedTrainer, SemiSupervisedTrainer)
    assert issubclass(ClassifierTrainer, scvi.inference.Trainer)
    assert issubclass(AnnotationPosterior, scvi.inference.Posterior)
    for cls in (SemiSupervisedTrainer, ClassifierTrainer, AnnotationPosterior):
        # reachable at the manual's path, defined where the code is (the source
        # and tracebacks point to the right file)
        assert getattr(scvi.inference.annotation, cls.__name__) is cls
        assert cls.__name__ in inspect.getsource(cls).splitlines()[0]
    for metric in ("accuracy", "hierarchical_accuracy"):
        assert getattr(AnnotationPosterior, metric).mode == "max"
    # scVI 0.6.8's defaults (the classifier's sets monitor their accuracy)
    assert ClassifierTrainer.default_metrics_to_monitor == []
    assert SemiSupervisedTrainer.default_metrics_to_monitor == ["elbo"]
    assert isinstance(SemiSupervisedTrainer.posteriors_loop, property)
    assert isinstance(ClassifierTrainer.posteriors_loop, property)


def test_public_exports():
    for name in ["SemiSupervisedTrainer", "JointSemiSupervisedTrainer",
                 "AlternateSemiSupervisedTrainer", "ClassifierTrainer"]:  # fmt: skip
        assert name in scvi.inference.__all__
        assert getattr(scvi.inference, name) is getattr(annotation, name)
    for name in annotation.__all__:
        assert getattr(annotation, name) is not None
    for name in ["AnnotationPosterior", "compute_accuracy_svc", "compute_accuracy_rf",
                 "compute_accuracy_tuple", "compute_accuracy_nn"]:  # fmt: skip
        assert name in annotation.__all__
