"""The optimisation step: torch's Adam, the NaN guard, public torch names only."""

import pathlib
import re

import pytest
import torch

from scvi.inference.trainers.step import NanGuard, compiled, make_adam

OPTIONS = [
    {},
    {"weight_decay": 1e-2},
    {"weight_decay": 1e-2, "decoupled_weight_decay": True},
    {"amsgrad": True},
    {"maximize": True},
    {"betas": (0.8, 0.95), "eps": 1e-2},
]


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)
    )


def _run(optimizer, model, n_steps, guard=None, nan_at=()):
    torch.manual_seed(1)
    for step in range(n_steps):
        if step == 3:
            for group in optimizer.param_groups:
                group["lr"] *= 0.5
        loss = model(torch.randn(8, 6)).pow(2).mean()
        if step in nan_at:
            loss = loss * float("nan")
        optimizer.zero_grad()
        if guard is None:
            loss.backward()
            optimizer.step()
        else:
            guard.step(loss, optimizer)
            guard.count(loss)


@pytest.mark.parametrize("options", OPTIONS)
def test_make_adam_is_torch_adam(options):
    # every option torch's Adam accepts gives torch's Adam's weights
    ours, reference = _model(), _model()
    optimizer = make_adam(ours.parameters(), lr=1e-2, **options)
    assert type(optimizer) is torch.optim.Adam
    _run(optimizer, ours, 6)
    _run(torch.optim.Adam(reference.parameters(), lr=1e-2, **options), reference, 6)
    for a, b in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("options", OPTIONS[:3])
def test_nan_guard_skips_nan_steps_exactly(options):
    # with the guard, NaN steps change neither the weights nor Adam's state: the
    # result is that of the same run without those steps
    guarded, reference = _model(), _model()
    optimizer = make_adam(guarded.parameters(), lr=1e-2, **options)
    guard = NanGuard(torch.device("cpu"), max_nans=3)
    _run(optimizer, guarded, 8, guard=guard, nan_at=(1, 2, 5))
    assert guard.check() == 0  # the last loss was finite
    reference_optimizer = make_adam(reference.parameters(), lr=1e-2, **options)
    torch.manual_seed(1)
    for step in range(8):
        if step == 3:
            for group in reference_optimizer.param_groups:
                group["lr"] *= 0.5
        loss = reference(torch.randn(8, 6)).pow(2).mean()
        if step in (1, 2, 5):
            continue
        reference_optimizer.zero_grad()
        loss.backward()
        reference_optimizer.step()
    for a, b in zip(guarded.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert optimizer.state_dict()["state"][0]["step"] == 5


def test_nan_guard_counts_runs_and_raises():
    guard = NanGuard(torch.device("cpu"), max_nans=3)
    for value in [1.0, float("nan"), float("nan"), 2.0, float("nan")]:
        guard.count(torch.tensor(value))
    assert guard.check() == 1  # the current run; the longest (2) is below 3
    for _ in range(2):
        guard.count(torch.tensor(float("nan")))
    with pytest.raises(ValueError, match="NaN 3 times in a row"):
        guard.check()


def test_compiled_falls_back_with_a_warning(caplog, monkeypatch):
    def broken(function, mode=None):
        def fail(*args):
            raise RuntimeError("no compiler here")

        return fail

    monkeypatch.setattr(torch, "compile", broken)
    double = compiled(lambda t: t * 2, True)
    with caplog.at_level("WARNING", logger="scvi"):
        assert double(torch.ones(2)).tolist() == [2.0, 2.0]
    assert "torch.compile failed (RuntimeError: no compiler here)" in caplog.text
    assert double(torch.ones(1)).tolist() == [2.0]
    plain = compiled(len, False)
    assert plain is len


def test_no_private_torch_names_in_the_library():
    # public torch APIs only: no torch._ name (documented torch._C checks aside)
    # and no reach into a wrapped function
    root = pathlib.Path(__file__).resolve().parents[2] / "scvi"
    offending = []
    for path in sorted(root.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if re.search(r"\btorch\._(?!C\b)", code) or "__wrapped__" in code:
                offending.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not offending, "\n".join(offending)
