"""Your own `torch.nn.Module` as a softmax policy or a critic (optional extra `gradlogpi[torch]`).

`NeuralSoftmaxPolicy` and `NeuralValue` build an MLP and act through a NumPy copy of its
weights. These two take any module instead (a CNN on image observations, a residual
network, layer norm...) and call it, without autograd, to act and to evaluate v̂; scores
(`torch.func` per sample), updates (Adam, one loss with a critic trained jointly) and
checkpoints are the built-in classes'. So every algorithm that trains a `NetworkPolicy`
trains them: PPO, A2C, TRPO, batch policy gradient, neural REINFORCE.

The module is made float64 in place (`module.double()`): scores and gradient checks are
float64 throughout the library. It must be a fixed function of its parameters and its
input that treats the observations of a batch one by one: per-sample scores call it
through `torch.func` (`vmap` of `grad`) on single observations. Construction checks this
on two random observations and refuses, by name, a module whose forward pass changes its
buffers or its output (dropout or batch norm in training mode: call `module.eval()`) or
mixes the observations of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gradlogpi.core._checks import check_positive_int
from gradlogpi.errors import ShapeError
from gradlogpi.policies.actor import Actor
from gradlogpi.policies.networks import (
    DEFAULT_REGRESSION,
    PLAIN_GAUSSIAN,
    AdamSettings,
    GaussianHead,
    Regression,
    flattened_call,
    observation_shape_of,
)
from gradlogpi.policies.softmax_base import SoftmaxPolicy
from gradlogpi.policies.torch_policies import (
    NeuralGaussianPolicy,
    NeuralSoftmaxPolicy,
    NeuralValue,
    require_torch,
    use_threads,
)


def checked_module(module: Any, observation_shape: tuple[int, ...], outputs: int) -> Any:
    """`module` in float64, once it has parameters on the CPU and, tried on two random
    observations, maps [N, *observation_shape] to float64 [N, outputs] as a fixed function
    of its parameters and input that treats the observations one by one."""
    torch = require_torch()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"`module` must be a torch.nn.Module; got {type(module).__name__}")
    devices = {tensor.device.type for tensor in [*module.parameters(), *module.buffers()]}
    if devices - {"cpu"}:
        raise ValueError(
            "`module` must be on the CPU (module.cpu()): acting and scores read its "
            f"parameters as NumPy arrays; got parameters on {sorted(devices - {'cpu'})}"
        )
    module = module.double()
    if not any(True for _ in module.parameters()):
        raise ValueError("`module` has no parameters to learn")
    observations = torch.from_numpy(np.random.default_rng(0).normal(size=(2, *observation_shape)))
    dimensions = ", ".join(map(str, observation_shape))
    calls, changed = probed(module, observations, dimensions)
    output = calls[0]
    shape = tuple(output.shape) if torch.is_tensor(output) else type(output).__name__
    if shape != (2, outputs):
        raise ShapeError(
            f"`module` must map observations [N, {dimensions}] to a tensor [N, {outputs}]; "
            f"given 2 observations it returned {shape}"
        )
    if output.dtype != torch.float64 or output.device.type != "cpu":
        raise TypeError(
            "`module` must compute in float64 on the CPU (scores and gradient checks are "
            f"float64); given float64 observations it returned {output.dtype} on "
            f"{output.device.type}"
        )
    if not bool(torch.isfinite(output).all()):
        raise ValueError(f"`module` returned non-finite outputs on observations [2, {dimensions}]")
    if changed or any(not torch.equal(output, other) for other in calls[1:]):
        raise ValueError(
            "`module` must be a fixed function of its parameters and input: its forward pass "
            "changed its buffers or its output (batch norm or dropout in training mode?); "
            "call module.eval() first, or use layers without running statistics (LayerNorm)"
        )
    with torch.no_grad():
        rows = torch.cat([module(observations[i : i + 1]) for i in range(2)])
    if not torch.allclose(rows, output, rtol=1e-9):
        raise ValueError(
            "`module` must treat the observations of a batch one by one (per-sample scores "
            "call it on one at a time); two observations together gave other outputs than "
            "each alone"
        )
    return module


def probed(module: Any, observations: Any, dimensions: str) -> tuple[list[Any], bool]:
    """Three calls of `module` on `observations` without autograd, and whether they changed
    its buffers; the buffers are put back either way (the probe leaves no trace in running
    statistics). A call that fails is a ValueError naming the observations."""
    torch = require_torch()
    saved = [buffer.clone() for buffer in module.buffers()]
    try:
        with torch.no_grad():
            return [module(observations) for _ in range(3)], not all(
                same_tensor(buffer, old)
                for buffer, old in zip(module.buffers(), saved, strict=True)
            )
    except Exception as error:
        raise ValueError(
            f"`module` failed on float64 observations [2, {dimensions}]: "
            f"{type(error).__name__}: {error}"
        ) from error
    finally:
        with torch.no_grad():
            for buffer, old in zip(module.buffers(), saved, strict=True):
                buffer.copy_(old)


def same_tensor(first: Any, second: Any) -> bool:
    """Equal, NaN where NaN (a buffer may hold NaN on purpose)."""
    if first.shape != second.shape:
        return False
    return bool(((first == second) | (first.isnan() & second.isnan())).all())


class TorchModuleSoftmaxPolicy(NeuralSoftmaxPolicy):
    """π(·|s) = softmax(module(s)) for Discrete actions, `module` yours.

    Args:
      module: a `torch.nn.Module` mapping observations [N, *observation_shape] to logits
        [N, n_actions]; trained in place (made float64).
      observation_shape: one observation's shape, e.g. 4 or (4,), or (3, 84, 84).
      n_actions: A.
      lr: Adam's step size, or `AdamSettings(step size, ε)` (ε 1e-5 by default).
      threads: PyTorch threads (1 by default: small nets get slower with more).

    Example:
        >>> import torch
        >>> module = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.Tanh(),
        ...                              torch.nn.Linear(32, 2))
        >>> policy = TorchModuleSoftmaxPolicy(module, 4, 2, lr=1e-3)
        >>> policy.probabilities([[0.0, 0.1, 0.0, -0.1]]).shape
        (1, 2)
    """

    def __init__(
        self,
        module: Any,
        observation_shape: int | Sequence[int],
        n_actions: int,
        *,
        lr: float | AdamSettings = 0.01,
        threads: int | None = 1,
    ):
        self.observation_shape = observation_shape_of(observation_shape)
        self.n_actions = check_positive_int("n_actions", n_actions)
        use_threads(threads)
        self._adopt(checked_module(module, self.observation_shape, self.n_actions), lr)

    def sync(self) -> None:
        """Nothing to copy: acting calls the module itself."""

    def logits(self, obs: Any) -> np.ndarray:
        torch = require_torch()
        with torch.no_grad():
            observations = np.ascontiguousarray(self._observations(obs))
            return self._logits_with(None, torch.from_numpy(observations)).numpy()

    def actor(self) -> Actor:
        return SoftmaxPolicy.actor(self)  # argmax of logits + Gumbel noise, the module's logits

    def batch_actor(self) -> Actor:
        return SoftmaxPolicy.batch_actor(self)  # not the built-in MLP's lean one

    def _logits_with(self, parameters: dict[str, Any] | None, observations: Any) -> Any:
        def call(batch: Any) -> Any:
            return super(TorchModuleSoftmaxPolicy, self)._logits_with(parameters, batch)

        return flattened_call(call, observations, self.observation_shape)


class TorchModuleGaussianPolicy(NeuralGaussianPolicy):
    """π(a|s) = N(module(s), diag σ²) for Box actions, with a learned log σ
    (state-independent), `module` yours.

    Args:
      module: a `torch.nn.Module` mapping observations [N, *observation_shape] to means
        [N, action_dim]; trained in place (made float64).
      observation_shape: one observation's shape, as `TorchModuleSoftmaxPolicy`.
      action_dim: m.
      lr, threads: as `TorchModuleSoftmaxPolicy`.
      head: `GaussianHead`: the initial log σ, its bounds, and optionally the action box
        to squash into (a = c + h·tanh(u), with the exact log-det term); no gSDE.
    """

    def __init__(
        self,
        module: Any,
        observation_shape: int | Sequence[int],
        action_dim: int,
        *,
        lr: float | AdamSettings = 0.01,
        head: GaussianHead = PLAIN_GAUSSIAN,
        threads: int | None = 1,
    ):
        torch = require_torch()
        _, std_shape, eta = self._settle_own_network(observation_shape, action_dim, head)
        self.eta = torch.nn.Parameter(torch.full(std_shape, eta, dtype=torch.float64))
        self.extra_parameters = {"eta": self.eta}
        use_threads(threads)
        self._adopt(checked_module(module, self.observation_shape, self.action_dim), lr)

    def sync(self) -> None:
        """log σ from η; the mean comes from calling the module."""
        self._log_std = self._log_std_of(self.eta.detach().numpy())

    def _forward(self, x: np.ndarray) -> np.ndarray:
        torch = require_torch()
        with torch.no_grad():
            observations = torch.from_numpy(np.ascontiguousarray(x))
            return flattened_call(self.network, observations, self.observation_shape).numpy()

    def actor(self) -> Actor:
        return Actor(self.sample_from_noise)  # μ(s) + σ·noise, μ from the module

    def _moments_with(
        self, parameters: dict[str, Any] | None, observations: Any, training: bool = False
    ) -> tuple[Any, Any]:
        eta = self.eta if parameters is None else parameters["eta"]
        if parameters is None:
            call = self.network
        else:
            from torch.func import functional_call

            inner = {
                n.removeprefix("network."): v
                for n, v in parameters.items()
                if n.startswith("network.")
            }

            def call(batch: Any) -> Any:
                return functional_call(self.network, inner, (batch,))

        mean = flattened_call(call, observations, self.observation_shape)
        return mean, self._torch_log_std(eta).expand(mean.shape)


class TorchModuleValue(NeuralValue):
    """v̂(s, w) = module(s), a critic fitted by regression, `module` yours.

    Args:
      module: a `torch.nn.Module` mapping observations [N, *observation_shape] to [N, 1];
        trained in place (made float64).
      observation_shape: one observation's shape, as `TorchModuleSoftmaxPolicy`.
      seed: seed of the stream that shuffles the regression's minibatches.
      lr: Adam's step size, or `AdamSettings`.
      regression: how `fit` regresses (`Regression`: epochs, minibatches, clip_range).
      threads: PyTorch threads.
    """

    def __init__(
        self,
        module: Any,
        observation_shape: int | Sequence[int],
        *,
        seed: int = 0,
        lr: float | AdamSettings = 1e-3,
        regression: Regression = DEFAULT_REGRESSION,
        threads: int | None = 1,
    ):
        self.observation_shape = observation_shape_of(observation_shape)
        self._settle(regression, seed)
        use_threads(threads)
        self._adopt(checked_module(module, self.observation_shape, 1), lr)

    def sync(self) -> None:
        """Nothing to copy: v̂ calls the module itself."""

    def value(self, obs: Any) -> np.ndarray:
        torch = require_torch()
        with torch.no_grad():
            return self.torch_value(obs).numpy()

    def _values_of(self, observations: Any) -> Any:
        return flattened_call(self.network, observations, self.observation_shape)[..., 0]
