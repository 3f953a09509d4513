"""Opt-in model options of the scVI family beyond scVI 0.6, and their presets.

Every option defaults to scVI 0.6's behaviour (the ``"scvi-0.6"`` preset), so
code written for scVI 0.6 gives 0.6 results. The ``"modern"`` preset turns on
the set recommended by scvi-tools 1.x (see ``docs/modern_options.rst``).
"""

from typing import Dict, Optional, Sequence, Tuple

import torch

from .modules.utils import check_option

#: where a normalisation applies (``use_batch_norm`` / ``use_layer_norm``)
NORM_PLACES = ("none", "encoder", "decoder", "both")

#: option name -> value, for each preset
MODEL_PRESETS: Dict[str, Dict[str, object]] = {
    "scvi-0.6": dict(
        use_observed_lib_size=False,
        encode_covariates=False,
        deeply_inject_covariates=True,
        use_batch_norm="both",
        use_layer_norm="none",
    ),
    # scvi-tools 1.x's SCVI defaults; layer norm in place of batch norm scored
    # lower on the labelled shared sets (docs/modern_options.rst)
    "modern": dict(
        use_observed_lib_size=True,
        encode_covariates=False,
        deeply_inject_covariates=True,
        use_batch_norm="both",
        use_layer_norm="none",
    ),
}


def resolve_model_options(preset: Optional[str], **given) -> Dict[str, object]:
    """The model options of ``preset``, overridden by those given (not None).

    Parameters
    ----------
    preset
        A key of :data:`MODEL_PRESETS`; None means ``"scvi-0.6"``.
    **given
        Option values; None takes the preset's value.

    Returns
    -------
    dict
        Every option of :data:`MODEL_PRESETS`, checked.

    Raises
    ------
    ValueError
        For an unknown preset or option value.
    """
    preset = "scvi-0.6" if preset is None else preset
    check_option(preset, tuple(MODEL_PRESETS), "preset")
    options = dict(MODEL_PRESETS[preset])
    unknown = set(given) - set(options)
    if unknown:
        raise ValueError(f"unknown model options {sorted(unknown)}")
    options.update({k: v for k, v in given.items() if v is not None})
    for name in ("use_batch_norm", "use_layer_norm"):
        check_option(options[name], NORM_PLACES, name)
    for name in (
        "use_observed_lib_size",
        "encode_covariates",
        "deeply_inject_covariates",
    ):
        if not isinstance(options[name], bool):
            raise ValueError(f"{name} must be a bool, got {options[name]!r}")
    return options


def norm_options(options: Dict[str, object], part: str) -> Dict[str, bool]:
    """Keyword arguments of the encoders (``part="encoder"``) or decoder.

    Parameters
    ----------
    options
        Output of :func:`resolve_model_options`.
    part
        ``"encoder"`` or ``"decoder"``.

    Returns
    -------
    dict
        ``use_batch_norm``, ``use_layer_norm`` and ``inject_covariates`` of
        :class:`~scvi.models.modules.FCLayers`.
    """
    return dict(
        use_batch_norm=options["use_batch_norm"] in (part, "both"),
        use_layer_norm=options["use_layer_norm"] in (part, "both"),
        inject_covariates=options["deeply_inject_covariates"],
    )


def check_covariates(
    n_continuous_cov: int, n_cats_per_cov: Optional[Sequence[int]]
) -> Tuple[int, Tuple[int, ...]]:
    """Validated numbers of continuous covariates and categories per covariate.

    Parameters
    ----------
    n_continuous_cov
        Number of continuous covariates (>= 0).
    n_cats_per_cov
        Number of categories of each extra categorical covariate (each >= 1).

    Returns
    -------
    tuple
        ``(n_continuous_cov, n_cats_per_cov as a tuple)``.
    """
    if isinstance(n_continuous_cov, bool) or not isinstance(n_continuous_cov, int):
        raise ValueError(
            f"n_continuous_cov must be an int >= 0, got {n_continuous_cov!r}"
        )
    if n_continuous_cov < 0:
        raise ValueError(
            f"n_continuous_cov must be an int >= 0, got {n_continuous_cov}"
        )
    cats = tuple(int(n) for n in (n_cats_per_cov or ()))
    if any(n < 1 for n in cats):
        raise ValueError(f"n_cats_per_cov must hold integers >= 1, got {cats}")
    return n_continuous_cov, cats


def observed_log_library(x: torch.Tensor) -> torch.Tensor:
    """Log of each cell's total count, ``(batch, 1)``; an empty cell counts as 1
    (so that its rates stay finite)."""
    return torch.log(x.sum(dim=-1, keepdim=True).clamp(min=1.0))


def split_cat_covs(
    cat_covs: Optional[torch.Tensor], n_cov: int
) -> Tuple[Optional[torch.Tensor], ...]:
    """Columns ``(batch, 1)`` of the extra categorical covariates ``cat_covs``.

    Parameters
    ----------
    cat_covs
        Integer codes ``(batch, n_cov)`` (None when ``n_cov == 0``).
    n_cov
        Number of extra categorical covariates the model was built with.

    Returns
    -------
    tuple of torch.Tensor
        ``n_cov`` tensors of shape ``(batch, 1)``.
    """
    if n_cov == 0:
        return ()
    if cat_covs is None or cat_covs.shape[-1] != n_cov:
        got = None if cat_covs is None else tuple(cat_covs.shape)
        raise ValueError(f"cat_covs must have shape (batch, {n_cov}), got {got}")
    return tuple(cat_covs[..., i : i + 1] for i in range(n_cov))


def check_cont_covs(cont_covs: Optional[torch.Tensor], n_cov: int):
    """``cont_covs`` as given, after checking its shape ``(batch, n_cov)``."""
    if n_cov == 0:
        return None
    if cont_covs is None or cont_covs.shape[-1] != n_cov:
        got = None if cont_covs is None else tuple(cont_covs.shape)
        raise ValueError(f"cont_covs must have shape (batch, {n_cov}), got {got}")
    return cont_covs
