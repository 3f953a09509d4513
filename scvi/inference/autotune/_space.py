"""The default search space and the fixed settings of every trial."""

from ._engines import hyperopt

#: early stopping of every trial unless ``trainer_specific_kwargs`` says otherwise:
#: the held-out ELBO, whose best state is kept (the objective is then the held-out
#: marginal likelihood of that state)
DEFAULT_EARLY_STOPPING = {
    "early_stopping_metric": "elbo",
    "save_best_state_metric": "elbo",
    "patience": 50,
    "threshold": 0,
    "reduce_lr_on_plateau": False,
    "lr_patience": 25,
    "lr_factor": 0.2,
}

#: the groups of a search space, in the order the objective applies them
GROUPS = ("model_tunable_kwargs", "trainer_tunable_kwargs", "train_func_tunable_kwargs")


def default_space() -> dict:
    """scVI 0.6's default search space for ``VAE`` and ``UnsupervisedTrainer``.

    ``n_latent`` in 5..15, ``n_hidden`` in {64, 128, 256}, ``n_layers`` in 1..5,
    ``dropout_rate`` in {0.1, 0.3, 0.5, 0.7}, ``reconstruction_loss`` in {"zinb",
    "nb"} and the learning rate ``lr`` in {0.01, 0.005, 0.001, 0.0005, 0.0001}.

    Returns
    -------
    dict
        ``{"model_tunable_kwargs": {...}, "train_func_tunable_kwargs": {...}}``
        of hyperopt expressions.
    """
    hp = hyperopt().hp
    return {
        "model_tunable_kwargs": {
            "n_latent": hp.randint("n_latent", 5, 16),
            "n_hidden": hp.choice("n_hidden", [64, 128, 256]),
            "n_layers": hp.randint("n_layers", 1, 6),
            "dropout_rate": hp.choice("dropout_rate", [0.1, 0.3, 0.5, 0.7]),
            "reconstruction_loss": hp.choice("reconstruction_loss", ["zinb", "nb"]),
        },
        "train_func_tunable_kwargs": {
            "lr": hp.choice("lr", [0.01, 0.005, 0.001, 0.0005, 0.0001])
        },
    }


def check_space(space: dict) -> None:
    """A custom space of the default objective is a dict of the groups of
    :data:`GROUPS`, each a dict of keyword arguments."""
    if not isinstance(space, dict):
        raise ValueError(f"space must be a dict, got {type(space).__name__}")
    unknown = sorted(set(space) - set(GROUPS))
    if unknown:
        raise ValueError(
            f"space has unknown groups {unknown}; expected some of {list(GROUPS)}"
        )
    for group, kwargs in space.items():
        if not isinstance(kwargs, dict):
            raise ValueError(f"space[{group!r}] must be a dict of keyword arguments")
