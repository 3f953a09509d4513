"""Adam with its fused kernel, called without the per-parameter Python loop."""

from typing import List, Optional

import torch


def _adam_step_without_hooks():
    """``torch.optim.Adam.step`` as defined, without the wrapper that
    ``torch.optim.Optimizer`` puts around the ``step`` of every optimizer class it
    instantiates (it runs the step hooks, which the wrapper of
    :meth:`FusedAdam.step` has run already)."""
    step = torch.optim.Adam.step
    return step.__wrapped__ if getattr(step, "hooked", False) else step


class FusedAdam(torch.optim.Adam):
    """:class:`torch.optim.Adam` with ``fused=True`` whose steps call the fused
    kernel directly.

    ``torch.optim.Adam.step`` spends longer in per-parameter Python bookkeeping
    than in the kernel for the few small tensors of these models. Once every
    parameter has its state (after the first step), a step here checks that every
    parameter has a dense gradient, increments the step counters and calls the
    same kernel with the same arguments, so the updates are identical. Anything
    else (a closure, a missing gradient, options the shortcut does not cover, a
    PyTorch without the kernel) goes through ``torch.optim.Adam.step``.

    Parameters
    ----------
    params
        Parameters (or parameter groups) to optimise.
    **kwargs
        Options of :class:`torch.optim.Adam` (``lr``, ``eps``, ``weight_decay``...).
    """

    def __init__(self, params, **kwargs):
        super().__init__(params, fused=True, **kwargs)
        self._direct = hasattr(torch, "_fused_adam_")
        self._plan: Optional[List[tuple]] = None

    def add_param_group(self, param_group) -> None:
        """Add a parameter group (see :meth:`torch.optim.Optimizer.add_param_group`)."""
        super().add_param_group(param_group)
        self._plan = None

    def load_state_dict(self, state_dict) -> None:
        """Load a state (see :meth:`torch.optim.Optimizer.load_state_dict`)."""
        super().load_state_dict(state_dict)
        self._plan = None

    def _make_plan(self):
        """Per group: the parameters that have a state, their state tensors and
        the parameters that have none (never had a gradient); None if a group uses
        options the shortcut does not cover or nothing has a state yet."""
        plan = []
        for group in self.param_groups:
            plain = not any(
                group.get(option)
                for option in ("amsgrad", "maximize", "capturable", "differentiable")
            )
            if not plain or torch.is_tensor(group["lr"]):
                return None
            params, others = [], []
            for p in group["params"]:
                state = self.state.get(p)
                (params if state and "exp_avg" in state else others).append(p)
            states = [self.state[p] for p in params]
            plan.append(
                (
                    params,
                    [state["exp_avg"] for state in states],
                    [state["exp_avg_sq"] for state in states],
                    [state["step"] for state in states],
                    others,
                )
            )
        if not any(params for params, *_ in plan):
            return None
        return plan

    @torch.no_grad()
    def _direct_step(self) -> bool:
        if self._plan is None:
            self._plan = self._make_plan()
            if self._plan is None:
                return False
        grads = []
        for params, *_, others in self._plan:
            group_grads = [p.grad for p in params]
            # the same parameters as Adam would update: those with a state (and a
            # dense gradient now), none of the others
            if any(g is None or g.is_sparse for g in group_grads) or any(
                p.grad is not None for p in others
            ):
                self._plan = None  # Adam.step may give new parameters a state
                return False
            grads.append(group_grads)
        updated = False
        for group, (params, exp_avgs, exp_avg_sqs, steps, _), group_grads in zip(
            self.param_groups, self._plan, grads
        ):
            if not params:
                continue
            beta1, beta2 = group["betas"]
            torch._foreach_add_(steps, 1)
            try:
                torch._fused_adam_(
                    params,
                    group_grads,
                    exp_avgs,
                    exp_avg_sqs,
                    [],
                    steps,
                    amsgrad=False,
                    lr=group["lr"],
                    beta1=beta1,
                    beta2=beta2,
                    weight_decay=group["weight_decay"],
                    eps=group["eps"],
                    maximize=False,
                    grad_scale=None,
                    found_inf=None,
                )
            except (RuntimeError, TypeError):  # not this PyTorch's kernel
                torch._foreach_sub_(steps, 1)
                if updated:  # pragma: no cover - the same call worked for a group
                    raise
                self._direct = False
                return False
            updated = True
        return True

    def step(self, closure=None):
        """Perform a single optimization step (see :meth:`torch.optim.Adam.step`).

        The step hooks run around this method, as for any optimizer.
        """
        if closure is None and self._direct and self._direct_step():
            return None
        return _adam_step_without_hooks()(self, closure)
