"""Count distributions in the (mean, inverse dispersion) parametrisation."""

from typing import Optional

import torch
from torch.distributions import Distribution, Gamma, Poisson, constraints
from torch.distributions.utils import broadcast_all, lazy_property

from .log_likelihood import log_nb_positive, log_zinb_positive

__all__ = ["NegativeBinomial", "ZeroInflatedNegativeBinomial"]


class NegativeBinomial(Distribution):
    """Negative binomial distribution with mean ``mu`` and inverse dispersion ``theta``.

    A gamma-Poisson mixture: ``rate ~ Gamma(theta, theta / mu)`` (shape, rate) and
    ``x | rate ~ Poisson(rate)``, so that ``E[x] = mu`` and
    ``Var[x] = mu + mu^2 / theta``.

    Parameters
    ----------
    mu
        Positive means, any shape (broadcast with ``theta`` to the batch shape).
    theta
        Positive inverse dispersions, broadcastable with ``mu``.
    validate_args
        Whether to check the parameters and the values given to :meth:`log_prob`
        (default: the global setting of :class:`torch.distributions.Distribution`).
    """

    arg_constraints = {"mu": constraints.positive, "theta": constraints.positive}
    support = constraints.nonnegative_integer

    def __init__(
        self,
        mu: torch.Tensor,
        theta: torch.Tensor,
        validate_args: Optional[bool] = None,
    ):
        self.mu, self.theta = broadcast_all(mu, theta)
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
        for name in self.arg_constraints:
            setattr(new, name, getattr(self, name).expand(batch_shape))
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _draw(self, sample_shape: torch.Size) -> torch.Tensor:
        """Gamma-Poisson counts of shape ``sample_shape + batch_shape``."""
        rate = Gamma(self.theta, self.theta / self.mu).sample(sample_shape)
        return Poisson(rate, validate_args=False).sample()

    def _log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log-probability of validated counts."""
        return log_nb_positive(value, self.mu, self.theta)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """Draw counts through the gamma-Poisson mixture (zeroed with probability
        ``sigmoid(zi_logits)`` for :class:`ZeroInflatedNegativeBinomial`).

        Parameters
        ----------
        sample_shape
            Leading shape of the draws.

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

        Parameters
        ----------
        value
            Non-negative integer counts broadcastable with ``batch_shape``.

        Returns
        -------
        torch.Tensor
            Broadcast shape of ``value`` and ``batch_shape``.
        """
        if self._validate_args:
            self._validate_sample(value)
        return self._log_prob(value)


class ZeroInflatedNegativeBinomial(NegativeBinomial):
    """Zero-inflated negative binomial: a zero with probability ``sigmoid(zi_logits)``,
    else a :class:`NegativeBinomial` draw.

    With ``p = sigmoid(zi_logits)``: ``E[x] = (1 - p) mu`` and
    ``Var[x] = (1 - p)(mu + mu^2 / theta) + p (1 - p) mu^2``.

    Parameters
    ----------
    mu
        Positive means of the negative binomial component, any shape.
    theta
        Positive inverse dispersions, broadcastable with ``mu``.
    zi_logits
        Logits of the zero-inflation probability, broadcastable with ``mu``.
    validate_args
        Whether to check the parameters and the values given to :meth:`log_prob`.
    """

    arg_constraints = {
        "mu": constraints.positive,
        "theta": constraints.positive,
        "zi_logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    def __init__(
        self,
        mu: torch.Tensor,
        theta: torch.Tensor,
        zi_logits: torch.Tensor,
        validate_args: Optional[bool] = None,
    ):
        self.mu, self.theta, self.zi_logits = broadcast_all(mu, theta, zi_logits)
        Distribution.__init__(self, self.mu.shape, validate_args=validate_args)

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
