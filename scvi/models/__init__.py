"""Generative models (VAE, LDVAE, VAEC, SCANVI, TOTALVI, JVAE, AutoZIVAE)."""
