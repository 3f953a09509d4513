"""Shapes and semantics of the neural building blocks of scvi.models.modules."""

import inspect

import pytest
import torch
from torch import nn

from scvi.models import modules
from scvi.models._likelihoods import gaussian_kl, gaussian_log_prob
from scvi.models.modules import (
    Decoder,
    DecoderSCVI,
    DecoderTOTALVI,
    Encoder,
    EncoderTOTALVI,
    FCLayers,
    LinearDecoderSCVI,
    MultiDecoder,
    MultiEncoder,
    identity,
    reparameterize_gaussian,
)

BATCH = 16


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def batch_index(n_batch=3, size=BATCH):
    return torch.randint(n_batch, (size, 1))


def test_documented_signatures():
    expected = {
        FCLayers: "(n_in, n_out, n_cat_list=None, n_layers=1, n_hidden=128, "
        "dropout_rate=0.1, use_batch_norm=True, use_relu=True, bias=True)",
        Encoder: "(n_input, n_output, n_cat_list=None, n_layers=1, n_hidden=128, "
        "dropout_rate=0.1, distribution='normal')",
        Decoder: "(n_input, n_output, n_cat_list=None, n_layers=1, n_hidden=128)",
        DecoderSCVI: "(n_input, n_output, n_cat_list=None, n_layers=1, n_hidden=128)",
        LinearDecoderSCVI: "(n_input, n_output, n_cat_list=None, "
        "use_batch_norm=True, bias=False)",
        MultiEncoder: "(n_heads, n_input_list, n_output, n_hidden=128, "
        "n_layers_individual=1, n_layers_shared=2, n_cat_list=None, "
        "dropout_rate=0.1)",
        MultiDecoder: "(n_input, n_output, n_hidden_conditioned=32, "
        "n_hidden_shared=128, n_layers_conditioned=1, n_layers_shared=1, "
        "n_cat_list=None, dropout_rate=0.2)",
        EncoderTOTALVI: "(n_input, n_output, n_cat_list=None, n_layers=2, "
        "n_hidden=256, dropout_rate=0.1, distribution='ln')",
        DecoderTOTALVI: "(n_input, n_output_genes, n_output_proteins, "
        "n_cat_list=None, n_layers=1, n_hidden=256, dropout_rate=0)",
        reparameterize_gaussian: "(mu, var)",
        identity: "(x)",
    }
    # the manual's parameters; options added since (keyword-only or **kwargs)
    # extend a signature without changing it
    manual_kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )
    for obj, signature in expected.items():
        parameters = inspect.signature(obj).parameters.values()
        text = ", ".join(
            p.name if p.default is p.empty else f"{p.name}={p.default!r}"
            for p in parameters
            if p.kind in manual_kinds
        )
        assert f"({text})" == signature
    assert set(modules.__all__) >= {obj.__name__ for obj in expected}


def test_fclayers_structure():
    layers = FCLayers(10, 4, n_cat_list=[3, 1, 2], n_layers=3, n_hidden=8)
    blocks = list(layers.fc_layers)
    assert len(blocks) == 3
    # covariates with a single category are ignored; 3 + 2 columns in every layer
    assert [block[0].in_features for block in blocks] == [15, 13, 13]
    assert [block[0].out_features for block in blocks] == [8, 8, 4]
    norm = blocks[0][1]
    assert isinstance(norm, nn.BatchNorm1d)
    assert norm.momentum == 0.01 and norm.eps == 0.001
    assert isinstance(blocks[0][2], nn.ReLU) and isinstance(blocks[0][3], nn.Dropout)
    bare = FCLayers(
        5, 2, dropout_rate=0, use_batch_norm=False, use_relu=False, bias=False
    )
    assert [type(m) for m in bare.fc_layers[0]] == [nn.Linear]
    assert bare.fc_layers[0][0].bias is None


def test_fclayers_use_torch_dropout():
    # the plain torch module, the same on every device
    layers = FCLayers(6, 3, dropout_rate=0.3)
    dropouts = [m for m in layers.modules() if isinstance(m, nn.Dropout)]
    assert dropouts and all(type(m) is nn.Dropout and m.p == 0.3 for m in dropouts)


def test_fclayers_covariates_are_one_hot_in_every_layer():
    layers = FCLayers(6, 3, n_cat_list=[4], n_layers=2, n_hidden=5).eval()
    x = torch.randn(BATCH, 6)
    cats = batch_index(4)
    out = layers(x, cats)
    assert out.shape == (BATCH, 3)
    encoded = torch.nn.functional.one_hot(cats.squeeze(1), 4).float()
    torch.testing.assert_close(layers(x, encoded), out)
    torch.testing.assert_close(layers(x, cats.squeeze(1)), out)
    assert not torch.allclose(layers(x, (cats + 1) % 4), out)
    # manual recomputation: [x, one_hot] enters each linear layer
    hidden = x
    for block in layers.fc_layers:
        hidden = block(torch.cat([hidden, encoded], dim=-1))
    torch.testing.assert_close(hidden, out)


def test_fclayers_ignored_and_missing_covariates():
    layers = FCLayers(6, 3, n_cat_list=[1, 0, 2]).eval()
    x = torch.randn(BATCH, 6)
    out = layers(x, None, None, batch_index(2))
    assert out.shape == (BATCH, 3)
    with pytest.raises(ValueError, match="expected 3 covariate"):
        layers(x, batch_index(2))
    with pytest.raises(ValueError, match="single normalisation instance"):
        layers(x, None, None, batch_index(2), instance_id=1)
    with pytest.raises(ValueError, match="None"):
        layers(x, None, None, None)


def test_fclayers_three_dimensional_input():
    layers = FCLayers(6, 3, n_cat_list=[3], n_layers=2, n_hidden=7)
    x = torch.randn(5, BATCH, 6)
    cats = batch_index(3)
    out = layers(x, cats)
    assert out.shape == (5, BATCH, 3)
    layers.eval()
    out = layers(x, cats)
    for i in range(5):
        torch.testing.assert_close(out[i], layers(x[i], cats))


def test_unknown_options_list_valid_values():
    with pytest.raises(ValueError, match="'normal', 'ln'"):
        Encoder(5, 2, distribution="lognormal")
    with pytest.raises(ValueError, match="'normal', 'ln'"):
        EncoderTOTALVI(5, 2, distribution="gamma")
    decoder = DecoderSCVI(2, 5)
    z, library = torch.randn(BATCH, 2), torch.randn(BATCH, 1)
    message = "'gene', 'gene-batch', 'gene-label', 'gene-cell'"
    for module, args in (
        (decoder, (z, library)),
        (LinearDecoderSCVI(2, 5), (z, library)),
    ):
        with pytest.raises(ValueError, match=message):
            module("cell", *args)
    with pytest.raises(ValueError, match=message):
        MultiDecoder(2, 5)(z, 0, library, "genes")


@pytest.mark.parametrize("distribution", ["normal", "ln"])
def test_encoder(distribution):
    encoder = Encoder(12, 4, n_cat_list=[3], distribution=distribution).eval()
    x, cells_batch = torch.randn(BATCH, 12), batch_index(3)
    q_m, q_v, latent = encoder(x, cells_batch)
    assert q_m.shape == q_v.shape == latent.shape == (BATCH, 4)
    # the parameters alone, without drawing a sample
    for got, expected in zip(encoder.gaussian(x, cells_batch), (q_m, q_v)):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert (q_v > 0).all()
    if distribution == "ln":
        # logistic normal: softmax of the Gaussian sample, a point of the simplex
        assert (latent > 0).all()
        torch.testing.assert_close(latent.sum(-1), torch.ones(BATCH))
    mu, var = torch.randn(BATCH, 4), torch.rand(BATCH, 4) + 0.1
    torch.manual_seed(3)
    z, untransformed = encoder.reparameterize_transformation(mu, var)
    torch.manual_seed(3)
    torch.testing.assert_close(untransformed, reparameterize_gaussian(mu, var))
    expected = untransformed.softmax(-1) if distribution == "ln" else untransformed
    torch.testing.assert_close(z, expected)


def test_reparameterize_gaussian_statistics_and_gradient():
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    var = torch.tensor([0.25, 4.0], requires_grad=True)
    draws = reparameterize_gaussian(mu.expand(50_000, 2), var.expand(50_000, 2))
    torch.testing.assert_close(draws.mean(0), mu.detach(), atol=0.05, rtol=0)
    torch.testing.assert_close(draws.var(0), var.detach(), atol=0, rtol=0.05)
    draws.sum().backward()
    assert torch.isfinite(mu.grad).all() and torch.isfinite(var.grad).all()
    assert identity(mu) is mu


def test_gaussian_decoder():
    p_m, p_v = Decoder(4, 9, n_cat_list=[2])(torch.randn(BATCH, 4), batch_index(2))
    assert p_m.shape == p_v.shape == (BATCH, 9) and (p_v > 0).all()


@pytest.mark.parametrize("decoder_class", [DecoderSCVI, LinearDecoderSCVI])
def test_scvi_decoders(decoder_class):
    decoder = decoder_class(4, 20, n_cat_list=[3]).eval()
    z, library = torch.randn(BATCH, 4), torch.randn(BATCH, 1) + 5
    cats = batch_index(3)
    px_scale, px_r, px_rate, px_dropout = decoder("gene", z, library, cats)
    assert px_scale.shape == px_rate.shape == px_dropout.shape == (BATCH, 20)
    assert px_r is None
    torch.testing.assert_close(px_scale.sum(-1), torch.ones(BATCH))
    torch.testing.assert_close(px_rate, library.exp() * px_scale)
    px_r = decoder("gene-cell", z, library, cats)[1]
    assert px_r.shape == (BATCH, 20)
    other = decoder("gene", z, library, (cats + 1) % 3)[0]
    assert not torch.allclose(other, px_scale)


def test_decoder_scvi_three_dimensional_latent():
    decoder = DecoderSCVI(4, 20, n_cat_list=[3])
    z, library = torch.randn(7, BATCH, 4), torch.randn(7, BATCH, 1)
    px_scale, _, px_rate, _ = decoder("gene-batch", z, library, batch_index(3))
    assert px_scale.shape == px_rate.shape == (7, BATCH, 20)


@pytest.mark.parametrize("use_batch_norm", [True, False])
def test_linear_decoder_loadings(use_batch_norm):
    decoder = LinearDecoderSCVI(3, 8, n_cat_list=[2], use_batch_norm=use_batch_norm)
    decoder.train()
    for _ in range(5):  # move the running statistics away from their defaults
        decoder("gene", torch.randn(64, 3), torch.zeros(64, 1), batch_index(2, 64))
    decoder.eval()
    loadings = decoder.get_loadings()
    assert loadings.shape == (8, 3) and not loadings.requires_grad
    z, cats = torch.randn(BATCH, 3), batch_index(2)
    regress = decoder.factor_regressor
    difference = regress(z, cats) - regress(torch.zeros_like(z), cats)
    torch.testing.assert_close(difference, z @ loadings.T)


def test_multi_encoder_and_decoder():
    encoder = MultiEncoder(2, [10, 6], 4, n_hidden=16, n_cat_list=[2])
    for head, n_input in enumerate([10, 6]):
        q_m, q_v, z = encoder(torch.randn(BATCH, n_input), head, batch_index(2))
        assert q_m.shape == q_v.shape == z.shape == (BATCH, 4) and (q_v > 0).all()
    with pytest.raises(ValueError, match="n_input_list"):
        MultiEncoder(3, [10, 6], 4)
    for n_conditioned, n_shared in [(1, 1), (0, 1), (1, 0), (0, 0)]:
        decoder = MultiDecoder(
            4,
            12,
            n_layers_conditioned=n_conditioned,
            n_layers_shared=n_shared,
            n_cat_list=[2],
        )
        library = torch.randn(BATCH, 1)
        out = decoder(torch.randn(BATCH, 4), 1, library, "gene-cell", batch_index(2))
        px_scale, px_r, px_rate, px_dropout = out
        assert all(t.shape == (BATCH, 12) for t in out)
        torch.testing.assert_close(px_scale.sum(-1), torch.ones(BATCH))
        torch.testing.assert_close(px_rate, library.exp() * px_scale)


@pytest.mark.parametrize("distribution", ["ln", "normal"])
def test_encoder_totalvi(distribution):
    encoder = EncoderTOTALVI(
        30, 5, n_cat_list=[2], n_hidden=32, distribution=distribution
    )
    qz_m, qz_v, ql_m, ql_v, latent, untran = encoder(
        torch.randn(BATCH, 30), batch_index(2)
    )
    assert qz_m.shape == qz_v.shape == latent["z"].shape == (BATCH, 5)
    assert ql_m.shape == ql_v.shape == latent["l"].shape == (BATCH, 1)
    assert (qz_v > 0).all() and (ql_v > 0).all()
    torch.testing.assert_close(latent["l"], untran["l"].exp())
    expected = untran["z"].softmax(-1) if distribution == "ln" else untran["z"]
    torch.testing.assert_close(latent["z"], expected)


def test_decoder_totalvi():
    decoder = DecoderTOTALVI(5, 30, 7, n_cat_list=[2], n_hidden=32)
    library = torch.rand(BATCH, 1) * 1000 + 1
    px_, py_, log_back = decoder(torch.randn(BATCH, 5), library, batch_index(2))
    assert set(px_) == {"scale", "rate", "dropout"}
    assert set(py_) >= {
        "back_alpha",
        "back_beta",
        "rate_back",
        "fore_scale",
        "rate_fore",
        "mixing",
        "scale",
    }
    assert all(v.shape == (BATCH, 30) for v in px_.values())
    assert all(v.shape == (BATCH, 7) for v in py_.values())
    torch.testing.assert_close(px_["scale"].sum(-1), torch.ones(BATCH))
    torch.testing.assert_close(px_["rate"], library * px_["scale"])
    torch.testing.assert_close(py_["rate_back"], log_back.exp())
    assert (py_["fore_scale"] >= 1).all() and (py_["back_beta"] > 0).all()
    assert (py_["rate_fore"] >= py_["rate_back"]).all()
    torch.testing.assert_close(py_["scale"].sum(-1), torch.ones(BATCH))


def test_gaussian_kl_gradients():
    # analytic gradients, with broadcasting (a leading sample axis, a prior per
    # cell) and summed or elementwise outputs
    double = dict(dtype=torch.float64, requires_grad=True)
    q_m = torch.randn(2, 5, 3, **double)
    q_v = (torch.rand(2, 5, 3, dtype=torch.float64) + 0.1).requires_grad_()
    p_m = torch.randn(5, 1, **double)
    p_v = (torch.rand(5, 1, dtype=torch.float64) + 0.5).requires_grad_()
    for sum_last in (True, False):
        assert torch.autograd.gradcheck(
            lambda *a: gaussian_kl(*a, sum_last=sum_last), (q_m, q_v, p_m, p_v)
        )
    assert torch.autograd.gradcheck(lambda m, v: gaussian_kl(m, v), (q_m, q_v))


def test_gaussian_helpers_match_torch():
    normal = torch.distributions.Normal
    q_m, p_m = torch.randn(BATCH, 4), torch.randn(BATCH, 4)
    q_v, p_v = torch.rand(BATCH, 4) + 0.05, torch.rand(BATCH, 4) + 0.05
    expected = torch.distributions.kl_divergence(
        normal(q_m, q_v.sqrt()), normal(p_m, p_v.sqrt())
    )
    torch.testing.assert_close(
        gaussian_kl(q_m, q_v, p_m, p_v, sum_last=False), expected
    )
    torch.testing.assert_close(gaussian_kl(q_m, q_v, p_m, p_v), expected.sum(-1))
    standard = torch.distributions.kl_divergence(
        normal(q_m, q_v.sqrt()), normal(torch.zeros(4), torch.ones(4))
    )
    torch.testing.assert_close(gaussian_kl(q_m, q_v), standard.sum(-1))
    value = torch.randn(BATCH, 4)
    torch.testing.assert_close(
        gaussian_log_prob(value, q_m, q_v),
        normal(q_m, q_v.sqrt()).log_prob(value).sum(-1),
    )


def test_one_hot_of_integer_indices_with_one_category():
    from scvi.models.modules.utils import one_hot

    index = torch.zeros(4, 1, dtype=torch.long)
    assert torch.equal(one_hot(index, 1, torch.float32), torch.ones(4, 1))
    two = torch.tensor([[1], [0]])
    assert torch.equal(one_hot(two, 2, torch.float32), torch.tensor([[0.0, 1], [1, 0]]))
    soft = torch.tensor([[0.25, 0.75]])
    assert torch.equal(one_hot(soft, 2, torch.float32), soft)
