"""Per-cell ELBO, reconstruction error and marginal likelihood of a fitted model.

These helpers are called by the posteriors of :mod:`scvi.inference`. They iterate
over ``posterior``, any iterable of mini-batch tuples whose first five tensors are
``(sample_batch, local_l_mean, local_l_var, batch_index, labels)`` as built by
:meth:`scvi.dataset.GeneExpressionDataset.collate_fn_builder`, and return Python
floats averaged over the cells seen. Gradients are disabled; put the model in
evaluation mode (``model.eval()``) beforehand for deterministic layers.

Model interface expected:

* ``model(x, local_l_mean, local_l_var, batch_index=..., y=..., **kwargs)`` returns
  ``(reconst_loss, kl_local)`` or ``(reconst_loss, kl_local, kl_global)``: two
  per-cell tensors of shape ``(batch,)`` and an optional scalar (tensor or float).
* ``model.inference(x, batch_index, y)`` returns a dict with ``px_rate``, ``px_r``,
  ``px_dropout``, ``qz_m``, ``qz_v``, ``z``, ``ql_m``, ``ql_v`` and ``library``;
  when the latent space is transformed (``latent_distribution="ln"``) it must also
  hold ``untran_z``, the Gaussian sample before the softmax, whose density is the
  one compared with ``q(z | x)``.
* ``model.get_reconstruction_loss(x, px_rate, px_r, px_dropout, **kwargs)`` returns
  ``-log p(x | z, l)`` per cell, shape ``(batch,)``.
"""

import math
from typing import Iterable, Sequence, Tuple

import torch

from ._likelihoods import gaussian_log_prob
from ._vae_covariates import covariate_kwargs

__all__ = [
    "compute_elbo",
    "compute_reconstruction_error",
    "compute_marginal_log_likelihood_scvi",
    "compute_marginal_log_likelihood_autozi",
]


def _forward_terms(model, tensors: Sequence[torch.Tensor], **kwargs) -> Tuple:
    """Run the model on one mini-batch; return (reconst, kl_local, kl_global)."""
    x, local_l_mean, local_l_var, batch_index, labels = tensors[:5]
    kwargs = dict(covariate_kwargs(model, tensors), **kwargs)
    outputs = model(
        x, local_l_mean, local_l_var, batch_index=batch_index, y=labels, **kwargs
    )
    if len(outputs) != 3:
        raise ValueError(
            "the model's forward must return (reconst_loss, kl_local, kl_global) "
            f"(see scvi.models.VAE.forward), got {len(outputs)} values"
        )
    return tuple(outputs)


def _sum_over_cells(posterior: Iterable, per_cell) -> Tuple[float, int]:
    """Sum of ``per_cell(tensors)`` over the mini-batches, and the number of cells.

    ``per_cell`` maps a mini-batch tuple to a tensor of shape ``(batch,)``; a
    posterior without cells raises a ValueError.
    """
    total, n_cells = 0.0, 0
    for tensors in posterior:
        total += float(per_cell(tensors).sum())
        n_cells += tensors[0].shape[0]
    return total, _check_cells(n_cells)


def _check_cells(n_cells: int) -> int:
    if n_cells == 0:
        raise ValueError("the posterior yielded no cells")
    return n_cells


@torch.no_grad()
def compute_elbo(vae, posterior: Iterable, **kwargs) -> float:
    """Negative ELBO per cell: ``(sum of reconst + local KL + global KL) / n_cells``.

    Parameters
    ----------
    vae
        Model following the interface of :mod:`scvi.models._metrics`.
    posterior
        Iterable of mini-batch tuples ``(x, local_l_mean, local_l_var, batch_index,
        labels, ...)`` with ``x`` of shape ``(batch, n_genes)``.
    **kwargs
        Passed to the model's forward call.

    Returns
    -------
    float
        The negative evidence lower bound averaged over cells (lower is better).
        The global KL term (``kl_global``, from the last mini-batch) is added once.
    """
    last = {"kl_global": 0.0}

    def negative_elbo(tensors):
        reconst_loss, kl_local, last["kl_global"] = _forward_terms(
            vae, tensors, **kwargs
        )
        return reconst_loss + kl_local

    total, n_cells = _sum_over_cells(posterior, negative_elbo)
    return (total + float(last["kl_global"])) / n_cells


@torch.no_grad()
def compute_reconstruction_error(vae, posterior: Iterable, **kwargs) -> float:
    """Reconstruction loss ``-log p(x | z, l)`` per cell, one posterior draw.

    Parameters
    ----------
    vae, posterior, **kwargs
        As in :func:`compute_elbo`.

    Returns
    -------
    float
        Sum over cells of the model's ``reconst_loss`` divided by the cell count.
    """
    total, n_cells = _sum_over_cells(
        posterior, lambda tensors: _forward_terms(vae, tensors, **kwargs)[0]
    )
    return total / n_cells


def _log_importance_weights(model, tensors, **reconstruction_kwargs) -> torch.Tensor:
    """``log p(x|z,l) + log p(z) + log p(l) - log q(z|x) - log q(l|x)`` per cell."""
    x, local_l_mean, local_l_var, batch_index, labels = tensors[:5]
    out = model.inference(x, batch_index, labels, **covariate_kwargs(model, tensors))
    z = out.get("untran_z", out["z"])
    if "bernoulli_params" in reconstruction_kwargs:
        # global zero-inflation samples are spread over the cells' batches/labels
        reconstruction_kwargs = dict(
            reconstruction_kwargs, batch_index=batch_index, y=labels
        )
    reconst_loss = model.get_reconstruction_loss(
        x, out["px_rate"], out["px_r"], out["px_dropout"], **reconstruction_kwargs
    )
    log_prior = gaussian_log_prob(z, 0.0, 1.0)
    log_q = gaussian_log_prob(z, out["qz_m"], out["qz_v"])
    if out.get("ql_m") is not None:  # an observed library is not integrated
        library = out["library"]
        log_prior = log_prior + gaussian_log_prob(library, local_l_mean, local_l_var)
        log_q = log_q + gaussian_log_prob(library, out["ql_m"], out["ql_v"])
    return -reconst_loss + log_prior - log_q


@torch.no_grad()
def compute_marginal_log_likelihood_scvi(
    vae, posterior: Iterable, n_samples_mc: int = 100
) -> float:
    """Importance-sampled negative marginal log-likelihood per cell.

    For each cell, ``log p(x) ~ logsumexp_k(log w_k) - log(n_samples_mc)`` with
    ``w_k = p(x | z_k, l_k) p(z_k) p(l_k) / (q(z_k | x) q(l_k | x))`` and
    ``(z_k, l_k) ~ q(z, l | x)``; ``p(z)`` is the standard normal and ``p(l)`` the
    log-normal library prior ``N(local_l_mean, local_l_var)``. A model with an
    observed library (``use_observed_lib_size``) has no library term: its weights
    are ``p(x | z_k, l_obs) p(z_k) / q(z_k | x)``.

    Parameters
    ----------
    vae, posterior
        As in :func:`compute_elbo`.
    n_samples_mc
        Number of importance samples per cell.

    Returns
    -------
    float
        ``-sum_cells log p(x) / n_cells`` (a positive number for counts).
    """

    def log_px(tensors):
        log_w = torch.stack(
            [_log_importance_weights(vae, tensors) for _ in range(n_samples_mc)],
            dim=-1,
        )
        return torch.logsumexp(log_w, dim=-1) - math.log(n_samples_mc)

    total, n_cells = _sum_over_cells(posterior, log_px)
    return -total / n_cells


@torch.no_grad()
def compute_marginal_log_likelihood_autozi(
    autozivae, posterior: Iterable, n_samples_mc: int = 100
) -> float:
    """Importance-sampled negative marginal log-likelihood per cell for AutoZI.

    The per-gene Bernoulli (zero-inflation) parameters ``d`` are global, so each
    of the ``n_samples_mc`` draws ``d_k ~ q(d) = Beta(alpha_posterior,
    beta_posterior)`` is weighted by the joint likelihood of all cells::

        log w_k = sum_cells log w_cell(d_k) + log p(d_k) - log q(d_k)

    and ``log p(X) ~ logsumexp_k(log w_k) - log(n_samples_mc)``. Each cell's local
    latents ``(z, l)`` are drawn once per ``k`` as in
    :func:`compute_marginal_log_likelihood_scvi`.

    Parameters
    ----------
    autozivae
        Model following the interface of :mod:`scvi.models._metrics`, with
        ``get_alphas_betas(as_numpy=False)`` returning the ``alpha_prior``,
        ``beta_prior``, ``alpha_posterior`` and ``beta_posterior`` tensors,
        ``sample_from_beta_distribution(alpha, beta)`` and a reconstruction loss
        accepting ``bernoulli_params``.
    posterior
        Iterable of mini-batch tuples; it is traversed ``n_samples_mc`` times.
    n_samples_mc
        Number of importance samples of the global parameters.

    Returns
    -------
    float
        ``-log p(X) / n_cells``.
    """
    params = autozivae.get_alphas_betas(as_numpy=False)
    alpha_q, beta_q = params["alpha_posterior"], params["beta_posterior"]
    prior = torch.distributions.Beta(
        torch.as_tensor(params["alpha_prior"], dtype=alpha_q.dtype),
        torch.as_tensor(params["beta_prior"], dtype=alpha_q.dtype),
    )
    posterior_d = torch.distributions.Beta(alpha_q, beta_q)
    log_w, n_cells = [], 0
    for _ in range(n_samples_mc):
        bernoulli_params = autozivae.sample_from_beta_distribution(alpha_q, beta_q)
        total, n_cells = _sum_over_cells(
            posterior,
            lambda tensors: _log_importance_weights(
                autozivae, tensors, bernoulli_params=bernoulli_params
            ),
        )
        total += float(prior.log_prob(bernoulli_params).sum())
        total -= float(posterior_d.log_prob(bernoulli_params).sum())
        log_w.append(total)
    log_w = torch.tensor(log_w, dtype=torch.float64)
    log_px = float(torch.logsumexp(log_w, dim=0)) - math.log(n_samples_mc)
    return -log_px / _check_cells(n_cells)
