"""Model behaviours observed with scVI 0.6.8 (issue 16)."""

import pytest

import scvi.models.vae
from scvi.models import LDVAE, AutoZIVAE


def test_ldvae_is_importable_from_scvi_models_vae():
    from scvi.models.vae import LDVAE as from_vae

    assert from_vae is LDVAE
    assert scvi.models.vae.LDVAE is LDVAE
    assert from_vae.__doc__
    with pytest.raises(AttributeError, match="no attribute 'LDVAE2'"):
        scvi.models.vae.LDVAE2


def test_autozi_reconstruction_loss_is_autozinb():
    assert AutoZIVAE(10).reconstruction_loss == "autozinb"
    for loss in ("zinb", "nb"):
        with pytest.raises(ValueError, match="reconstruction_loss.*autozinb"):
            AutoZIVAE(10, reconstruction_loss=loss)
