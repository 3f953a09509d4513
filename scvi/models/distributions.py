"""Count distributions: negative binomial and zero-inflated negative binomial.

Both accept scVI 0.6.8's two parameterisations, ``(total_count, probs or logits)``
or ``(mu, theta)`` (see :mod:`scvi.models._nb_parameters`); internally they hold
the mean ``mu`` and inverse dispersion ``theta``.
"""

import warnings
from typing import Optional, Union

import torch
from torch.distributions import Distribution, Gamma, Poisson, constraints
from torch.distributions.utils import broadcast_all, lazy_property

from ._nb_parameters import (
    convert_counts_logits_to_mean_disp,
    convert_mean_disp_to_counts_logits,
    resolve_mean_disp,
)
from .log_likelihood import log_nb_positive, log_zinb_positive

__all__ = ["NegativeBinomial", "ZeroInflatedNegativeBinomial"]

# scVI 0.6.8's names of the conversions
_convert_mean_disp_to_counts_logits = convert_mean_disp_to_counts_logits
_convert_counts_logits_to_mean_disp = convert_counts_logits_to_mean_disp

Parameter = Optional[Union[torch.Tensor, float, int]]

_OUTSIDE_SUPPORT = "The value argument must be within the support of the distribution"


class NegativeBinomial(Distribution):
    """Negative binomial (NB) distribution using two parameterizations.

    - ``(total_count, probs)`` where ``total_count`` is the number of failures
      until the experiment is stopped and ``probs`` the success probability (or
      ``(total_count, logits)``, with ``probs = sigmoid(logits)``), as in
      :class:`torch.distributions.NegativeBinomial`;
    - ``(mu, theta)``, the one used by scVI: mean ``mu`` and inverse dispersion
      ``theta``.

    ``total_count`` or ``mu`` (exactly one) chooses the parameterisation; the
    other is converted (``theta = total_count``, ``mu = total_count *
    exp(logits)``; see ``_convert_mean_disp_to_counts_logits`` and
    ``_convert_counts_logits_to_mean_disp``). The distribution is a gamma-Poisson
    mixture, ``rate ~ Gamma(theta, theta / mu)`` and ``x | rate ~
    Poisson(rate)``: ``E[x] = mu`` and ``Var[x] = mu + mu^2 / theta``.

    Parameters
    ----------
    total_count
        Number of failures until the experiment is stopped (non-negative).
    probs
        Success probabilities, in [0, 1].
    logits
        Success logits; used rather than ``probs`` when both are given.
    mu
        Non-negative means, any shape (broadcast with ``theta`` to the batch shape).
    theta
        Non-negative inverse dispersions, broadcastable with ``mu``.
    validate_args
        Whether to check that ``mu`` and ``theta`` are non-negative (a
        :class:`ValueError` otherwise), and to warn when :meth:`log_prob` is given
        values outside the support (non-negative integers).

    Raises
    ------
    ValueError
        If both or neither of ``total_count`` and ``mu`` are given, if ``mu``
        comes without ``theta`` or ``total_count`` without ``probs``/``logits``,
        or (with ``validate_args``) if ``mu`` or ``theta`` is negative.

    Examples
    --------
    >>> theta, mu = torch.tensor([0.5]), torch.tensor([2.0])
    >>> dist = NegativeBinomial(mu=mu, theta=theta)
    >>> same = NegativeBinomial(total_count=theta, logits=(mu / theta).log())
    """

    arg_constraints = {
        "mu": constraints.greater_than_eq(0),
        "theta": constraints.greater_than_eq(0),
    }
    support = constraints.nonnegative_integer

    def __init__(
        self,
        total_count: Parameter = None,
        probs: Parameter = None,
        logits: Parameter = None,
        mu: Parameter = None,
        theta: Parameter = None,
        validate_args: Optional[bool] = True,
    ):
        self.mu, self.theta = resolve_mean_disp(total_count, probs, logits, mu, theta)
        super().__init__(self.mu.shape, validate_args=validate_args)

    @property
    def mean(self) -> torch.Tensor:
        """Means, shape ``batch_shape``."""
        return self.mu

    @property
    def variance(self) -> torch.Tensor:
        """Variances ``mu + mu^2 / theta``, shape ``batch_shape``."""
        return self.mu + self.mu**2 / self.theta

    def expand(self, batch_shape, _instance=None):
        """Return a view of the distribution with a larger batch shape.

        Parameters
        ----------
        batch_shape
            The desired batch shape, broadcast-compatible with the current one.
        _instance
            Internal argument of :meth:`torch.distributions.Distribution.expand`.

        Returns
        -------
        NegativeBinomial
            The expanded distribution (parameters are views, not copies).
        """
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        for name in self._parameter_names():
            setattr(new, name, getattr(self, name).expand(batch_shape))
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @staticmethod
    def _parameter_names():
        """Names of the tensors that define the distribution."""
        return ("mu", "theta")

    def _gamma(self) -> Gamma:
        """The gamma distribution of the Poisson rates, ``Gamma(theta, theta / mu)``."""
        return Gamma(concentration=self.theta, rate=self.theta / self.mu)

    def _draw(self, sample_shape: torch.Size) -> torch.Tensor:
        """Gamma-Poisson counts of shape ``sample_shape + batch_shape``."""
        rate = self._gamma().sample(sample_shape)
        return Poisson(rate, validate_args=False).sample()

    def _log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log-probability of counts."""
        return log_nb_positive(value, self.mu, self.theta)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """Draw counts through the gamma-Poisson mixture (zeroed with probability
        ``sigmoid(zi_logits)`` for :class:`ZeroInflatedNegativeBinomial`).

        Parameters
        ----------
        sample_shape
            Leading shape of the draws (a tuple or :class:`torch.Size`).

        Returns
        -------
        torch.Tensor
            Floating counts of shape ``sample_shape + batch_shape``.
        """
        with torch.no_grad():
            return self._draw(torch.Size(sample_shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log-probability of counts (see :func:`.log_likelihood.log_nb_positive`
        and, for :class:`ZeroInflatedNegativeBinomial`,
        :func:`.log_likelihood.log_zinb_positive`).

        With ``validate_args``, values outside the support (non-negative integers)
        give a :class:`UserWarning`, as in scVI 0.6.8, and are evaluated anyway.

        Parameters
        ----------
        value
            Counts broadcastable with ``batch_shape``.

        Returns
        -------
        torch.Tensor
            Broadcast shape of ``value`` and ``batch_shape``.
        """
        if self._validate_args:
            if not bool(self.support.check(torch.as_tensor(value)).all()):
                warnings.warn(_OUTSIDE_SUPPORT, UserWarning, stacklevel=2)
        return self._log_prob(value)


class ZeroInflatedNegativeBinomial(NegativeBinomial):
    """Zero-inflated negative binomial distribution.

    A zero with probability ``zi_probs = sigmoid(zi_logits)``, else a
    :class:`NegativeBinomial` draw, whose parameters follow either
    parameterisation: ``(total_count, probs or logits)`` or ``(mu, theta)``.
    With ``p = zi_probs``: ``E[x] = (1 - p) mu`` and
    ``Var[x] = (1 - p)(mu + mu^2 / theta) + p (1 - p) mu^2``.

    Parameters
    ----------
    total_count, probs, logits, mu, theta
        The negative binomial component, as in :class:`NegativeBinomial`.
    zi_logits
        Logits of the zero-inflation probability (required), broadcastable with
        the other parameters.
    validate_args
        As in :class:`NegativeBinomial`; ``zi_logits`` must not be NaN.

    Raises
    ------
    ValueError
        As in :class:`NegativeBinomial`, or if ``zi_logits`` is missing.
    """

    arg_constraints = {
        "mu": constraints.greater_than_eq(0),
        "theta": constraints.greater_than_eq(0),
        "zi_probs": constraints.half_open_interval(0.0, 1.0),
        "zi_logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    def __init__(
        self,
        total_count: Parameter = None,
        probs: Parameter = None,
        logits: Parameter = None,
        mu: Parameter = None,
        theta: Parameter = None,
        zi_logits: Parameter = None,
        validate_args: Optional[bool] = True,
    ):
        mu, theta = resolve_mean_disp(total_count, probs, logits, mu, theta)
        if zi_logits is None:
            raise ValueError("zi_logits is required (zero-inflation logits)")
        self.mu, self.theta, self.zi_logits = broadcast_all(mu, theta, zi_logits)
        Distribution.__init__(self, self.mu.shape, validate_args=validate_args)

    @staticmethod
    def _parameter_names():
        """Names of the tensors that define the distribution."""
        return ("mu", "theta", "zi_logits")

    @lazy_property
    def zi_probs(self) -> torch.Tensor:
        """Zero-inflation probabilities ``sigmoid(zi_logits)``, ``batch_shape``."""
        return torch.sigmoid(self.zi_logits)

    @property
    def mean(self) -> torch.Tensor:
        """Means ``(1 - p) mu``, shape ``batch_shape``."""
        return (1.0 - self.zi_probs) * self.mu

    @property
    def variance(self) -> torch.Tensor:
        """Variances ``(1 - p)(mu + mu^2 / theta) + p (1 - p) mu^2``."""
        keep = 1.0 - self.zi_probs
        return keep * (super().variance + self.zi_probs * self.mu**2)

    def _draw(self, sample_shape: torch.Size) -> torch.Tensor:
        """A negative binomial draw, then zeroed with probability ``p``."""
        counts = super()._draw(sample_shape)
        dropped = torch.rand_like(counts) < self.zi_probs
        return counts.masked_fill(dropped, 0.0)

    def _log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return log_zinb_positive(value, self.mu, self.theta, self.zi_logits)
