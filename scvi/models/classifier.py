"""Fully-connected classifier (of cells, or of latent representations)."""

import torch
from torch import nn

from .modules.fc_layers import hidden_layers


class Classifier(nn.Module):
    """Multi-layer perceptron giving class probabilities (or logits).

    ``FCLayers(n_input -> n_hidden)`` followed by ``Linear(n_hidden -> n_labels)``
    and a softmax over the classes unless ``logits``.

    Parameters
    ----------
    n_input
        Number of input features (genes, or latent dimensions).
    n_hidden
        Number of nodes per hidden layer.
    n_labels
        Number of classes.
    n_layers
        Number of fully-connected hidden layers.
    dropout_rate
        Dropout rate of the hidden layers.
    logits
        Return unnormalised log-probabilities instead of probabilities.

    Examples
    --------
    >>> classifier = Classifier(vae.n_latent, n_labels=cortex_dataset.n_labels)
    >>> discriminator = Classifier(n_latent, 32, 2, 3, logits=True)
    """

    def __init__(
        self,
        n_input: int,
        n_hidden: int = 128,
        n_labels: int = 5,
        n_layers: int = 1,
        dropout_rate: float = 0.1,
        logits: bool = False,
    ):
        super().__init__()
        if n_labels < 1:
            raise ValueError(f"n_labels must be at least 1, got {n_labels}")
        self.n_labels = n_labels
        self.logits = logits
        layers = [
            hidden_layers(n_input, n_hidden, None, n_layers, dropout_rate),
            nn.Linear(n_hidden, n_labels),
        ]
        if not logits:
            layers.append(nn.Softmax(dim=-1))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (or logits) of each row of ``x``.

        Parameters
        ----------
        x
            Tensor of shape ``(batch, n_input)``.

        Returns
        -------
        torch.Tensor
            Shape ``(batch, n_labels)``: probabilities summing to one per row,
            or logits when ``logits=True``.
        """
        return self.classifier(x)
