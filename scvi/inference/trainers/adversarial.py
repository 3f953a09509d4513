"""The discriminator that adversarial trainers train alongside their model."""

from .step import make_adam


class DiscriminatorExtras:
    """:meth:`training_extras_init` and :meth:`training_extras_end` of a
    :class:`~scvi.inference.Trainer` whose ``discriminator`` (a classifier on the
    latent space, or None) is trained alongside the model with its own Adam
    optimizer, ``d_optimizer``.

    Expects the attributes ``model``, ``discriminator``, ``weight_decay`` and
    ``_parallel`` (the data-parallel hooks): when training data-parallel, every
    process starts from rank 0's discriminator and its gradients are averaged
    across processes before each of its steps.
    """

    def training_extras_init(self, lr_d: float = 1e-3, eps: float = 0.01) -> None:
        """Other necessary models to simultaneously train: the discriminator, put
        on the model's device and in training mode, with its own Adam optimizer
        (learning rate ``lr_d``)."""
        if self.discriminator is None:
            return
        self.discriminator.to(next(self.model.parameters()).device).train()
        self._parallel.share_module(self.discriminator)
        self.d_optimizer = make_adam(
            self.discriminator.parameters(),
            lr=lr_d,
            eps=eps,
            weight_decay=self.weight_decay,
        )

    def discriminator_step(self, d_loss) -> None:
        """One optimisation step of the discriminator on ``d_loss`` (a scalar)."""
        self.d_optimizer.zero_grad()
        d_loss.backward()
        self._parallel.average_gradients(self.discriminator)
        self.d_optimizer.step()

    def training_extras_end(self) -> None:
        """Place to put extra models in eval mode, etc.: the discriminator."""
        if self.discriminator is not None:
            self.discriminator.eval()
