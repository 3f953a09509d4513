"""FusedAdam: the same updates as torch.optim.Adam, through its shortcut."""

import pytest
import torch
from torch import nn

from scvi.inference._optim import FusedAdam
from scvi.inference.trainer import make_adam


def _model(seed):
    torch.manual_seed(seed)
    # the third layer is never used: its parameters never get a gradient
    return nn.ModuleList([nn.Linear(6, 5), nn.Linear(5, 3), nn.Linear(5, 2)])


def _steps(optimizer, model, n_steps, lr_change_at=3):
    torch.manual_seed(1)
    for step in range(n_steps):
        if step == lr_change_at:
            for group in optimizer.param_groups:
                group["lr"] *= 0.5
        optimizer.zero_grad()
        loss = model[1](torch.relu(model[0](torch.randn(8, 6)))).pow(2).sum()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_fused_adam_matches_torch_adam_bit_for_bit(weight_decay, monkeypatch):
    kwargs = dict(lr=1e-2, eps=0.01, weight_decay=weight_decay)
    reference, ours = _model(0), _model(0)
    _steps(torch.optim.Adam(reference.parameters(), fused=True, **kwargs), reference, 6)
    optimizer = FusedAdam(ours.parameters(), **kwargs)
    calls = []
    original = FusedAdam._direct_step

    def spy(self):
        calls.append(original(self))
        return calls[-1]

    monkeypatch.setattr(FusedAdam, "_direct_step", spy)
    _steps(optimizer, ours, 6)
    # the first step initialises the states through Adam.step, the others are direct
    assert calls == [False] + [True] * 5
    for a, b in zip(reference.parameters(), ours.parameters()):
        assert torch.equal(a, b)
    # parameters without gradients keep no state, as with Adam
    assert all(p not in optimizer.state for p in ours[2].parameters())
    state = optimizer.state_dict()
    assert all(float(s["step"]) == 6 for s in state["state"].values())


def test_fused_adam_falls_back_when_a_new_parameter_gets_a_gradient():
    reference, ours = _model(0), _model(0)
    adam = torch.optim.Adam(reference.parameters(), lr=1e-2, fused=True)
    fused = FusedAdam(ours.parameters(), lr=1e-2)
    for optimizer, model in ((adam, reference), (fused, ours)):
        _steps(optimizer, model, 3)
        # now the third layer is used too
        optimizer.zero_grad()
        (model[2](torch.ones(1, 5)).sum() + model[0].weight.sum()).backward()
        optimizer.step()
        _steps(optimizer, model, 2)
    for a, b in zip(reference.parameters(), ours.parameters()):
        assert torch.equal(a, b)
    assert all(p in fused.state for p in ours[2].parameters())


def test_fused_adam_with_closure_and_state_dict_round_trip():
    model = _model(0)
    optimizer = make_adam(model.parameters(), lr=1e-2)
    assert isinstance(optimizer, FusedAdam)
    _steps(optimizer, model, 2)

    def closure():
        optimizer.zero_grad()
        loss = model[0](torch.ones(2, 6)).sum()
        loss.backward()
        return loss

    assert torch.is_tensor(optimizer.step(closure))
    copy = FusedAdam(model.parameters(), lr=1e-2)
    copy.load_state_dict(optimizer.state_dict())
    assert copy._plan is None and float(copy.state[model[0].weight]["step"]) == 3


def test_fused_adam_runs_step_hooks():
    # a hook makes every step go through Adam.step, which runs it; same updates
    reference, ours = _model(0), _model(0)
    _steps(torch.optim.Adam(reference.parameters(), lr=1e-2, fused=True), reference, 4)
    optimizer = FusedAdam(ours.parameters(), lr=1e-2)
    calls = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: calls.append(1))
    _steps(optimizer, ours, 4)
    assert len(calls) == 4
    for a, b in zip(reference.parameters(), ours.parameters()):
        assert torch.equal(a, b)
