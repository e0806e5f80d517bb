"""Your own JAX network as a softmax policy or a critic (optional extra `gradlogpi[jax]`).

A network here is a pure function `apply(parameters, observations)` and its parameters,
any pytree of float arrays: a Flax linen module's `module.apply` with its `variables`, an
Equinox or Haiku function, or plain `jax.numpy` (the tests use plain `jax.numpy`; Flax is
not a dependency). It takes the MLP's place inside the JAX
backend's compiled calls (`jax_policies`), so it trains as the built-in networks do: all
of an update's epochs × minibatches in one XLA program, in float32 by default, scores
and gradient checks in float64, with the critic in the same loss, snapshots and resume,
and `runs = R` learned together in one vmapped call.

`apply` gets a batch of observations [N, *observation_shape] and returns [N, n_actions]
logits (a critic: [N, 1]); it must be traceable by `jax.jit`, `jax.grad` and `jax.vmap`
and be the same function object for every run learned together. Acting calls it compiled
in float64 (no NumPy copy as for the MLP), so acting costs a compiled call a step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradlogpi.core._checks import check_positive_int
from gradlogpi.errors import MissingExtraError, ShapeError
from gradlogpi.policies.actor import Actor
from gradlogpi.policies.jax_policies import (
    JaxGaussianPolicy,
    JaxSoftmaxPolicy,
    JaxValue,
    Network,
    Parameters,
    network_output,
)
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

try:
    import jax
    import jax.numpy as jnp
except ImportError as error:  # pragma: no cover - depends on the install
    raise MissingExtraError(
        'your own JAX network needs JAX: pip install "gradlogpi[jax]"'
    ) from error


@dataclass(frozen=True)
class UserNetwork:
    """A user's `apply` on θ's flat list of arrays (hashable: part of a compiled call's
    static `Network`)."""

    apply: Callable[[Any, Any], Any]
    structure: Any
    """The parameters' pytree structure (a `jax.tree_util.PyTreeDef`)."""
    observation_shape: tuple[int, ...]

    def __call__(self, parameters: Parameters, observations: Any) -> Any:
        # a Gaussian policy's η follows the function's own arrays
        leaves = list(parameters)[: self.structure.num_leaves]
        tree = jax.tree_util.tree_unflatten(self.structure, leaves)
        return flattened_call(
            functools.partial(self.apply, tree), observations, self.observation_shape
        )


def user_network(
    apply: Any, parameters: Any, observation_shape: tuple[int, ...], outputs: int
) -> tuple[UserNetwork, list[np.ndarray]]:
    """`apply` as a `UserNetwork` and θ as float64 arrays, once `apply` is callable, the
    parameters are float arrays, and two zero observations give [2, outputs]."""
    if not callable(apply):
        raise TypeError(
            f"`apply` must be a function apply(parameters, observations); got {type(apply).__name__}"
        )
    leaves, structure = jax.tree_util.tree_flatten(parameters)
    if not leaves:
        raise ValueError("`parameters` has no arrays to learn")
    arrays = [np.asarray(leaf) for leaf in leaves]
    if not all(np.issubdtype(array.dtype, np.floating) for array in arrays):
        kinds = sorted({str(array.dtype) for array in arrays})
        raise TypeError(f"`parameters` must hold float arrays only; got dtypes {kinds}")
    arrays = [array.astype(np.float64) for array in arrays]
    # JAX arrays, as the compiled calls pass them (`.at[...]` and the like work)
    tree = jax.tree_util.tree_unflatten(structure, [jnp.asarray(a) for a in arrays])
    observations = jnp.asarray(np.random.default_rng(0).normal(size=(2, *observation_shape)))
    dimensions = ", ".join(map(str, observation_shape))
    try:
        output = apply(tree, observations)
        rows = [apply(tree, observations[i : i + 1]) for i in range(2)]
    except Exception as error:
        raise ValueError(
            f"`apply` failed on float64 observations [2, {dimensions}]: "
            f"{type(error).__name__}: {error}"
        ) from error
    shape = tuple(np.shape(output))
    if shape != (2, outputs):
        raise ShapeError(
            f"`apply` must map observations [N, {dimensions}] to [N, {outputs}]; given 2 "
            f"observations it returned shape {shape}"
        )
    dtype = np.asarray(output).dtype
    if dtype != np.float64:
        raise TypeError(
            "`apply` must compute in its inputs' dtype (float64 scores and gradient checks; "
            f"training passes `dtype` arrays); given float64 it returned {dtype}"
        )
    if not np.allclose(np.concatenate([np.asarray(r) for r in rows]), output, rtol=1e-9):
        raise ValueError(
            "`apply` must treat the observations of a batch one by one (per-sample scores "
            "call it on one at a time); two observations together gave other outputs than "
            "each alone"
        )
    return UserNetwork(apply, structure, observation_shape), arrays


compiled_output = jax.jit(network_output, static_argnames=("network",))


def named_blocks(structure: Any, parameters: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Index ranges of the flat θ by each array's path in the parameters' pytree (and
    "eta" for a Gaussian's log σ parameter after them)."""
    leaves = parameters[: structure.num_leaves]
    tree = jax.tree_util.tree_unflatten(structure, leaves)
    blocks, start = {}, 0
    for path, array in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = jax.tree_util.keystr(path) or "parameters"
        blocks[name] = np.arange(start, start + np.size(array))
        start += np.size(array)
    for array in parameters[structure.num_leaves :]:
        blocks["eta"] = np.arange(start, start + np.size(array))
        start += np.size(array)
    return blocks


class JaxFunctionSoftmaxPolicy(JaxSoftmaxPolicy):
    """π(·|s) = softmax(apply(parameters, s)) for Discrete actions, trained in JAX.

    Args:
      apply: apply(parameters, observations [N, *observation_shape]) -> logits [N, A].
      parameters: its initial parameters, any pytree of float arrays (copied as float64).
      observation_shape: one observation's shape, e.g. 4 or (4,), or (1, 84, 84).
      n_actions: A.
      lr: Adam's step size, or `AdamSettings(step size, ε)` (ε 1e-5 by default).
      dtype: 'float32' (default) or 'float64': what training computes in.

    Example:
        >>> import jax.numpy as jnp
        >>> def apply(parameters, x):
        ...     return jnp.tanh(x @ parameters["hidden"]) @ parameters["out"]
        >>> parameters = {"hidden": np.full((4, 8), 0.1), "out": np.zeros((8, 2))}
        >>> policy = JaxFunctionSoftmaxPolicy(apply, parameters, 4, 2, lr=1e-3)
        >>> policy.probabilities([[0.0, 0.1, 0.0, -0.1]])
        array([[0.5, 0.5]])
    """

    def __init__(
        self,
        apply: Callable[[Any, Any], Any],
        parameters: Any,
        observation_shape: int | Sequence[int],
        n_actions: int,
        *,
        lr: float | AdamSettings = 0.01,
        dtype: str = "float32",
    ):
        self.observation_shape = observation_shape_of(observation_shape)
        self.n_actions = check_positive_int("n_actions", n_actions)
        function, arrays = user_network(apply, parameters, self.observation_shape, self.n_actions)
        self.activation = "yours"
        network = Network(
            "softmax", self.activation, function=function, rank=len(function.observation_shape)
        )
        self._adopt(network, arrays, lr, dtype)

    def sync(self) -> None:
        """Nothing to copy: acting calls the function itself."""

    def logits(self, obs: Any) -> np.ndarray:
        return np.asarray(compiled_output(self.network, self._float64(), self._observations(obs)))

    def actor(self) -> Actor:
        return SoftmaxPolicy.actor(self)  # argmax of logits + Gumbel noise, the function's logits

    def batch_actor(self) -> Actor:
        return SoftmaxPolicy.batch_actor(self)  # not the built-in MLP's lean one

    def parameter_blocks(self) -> dict[str, np.ndarray]:
        assert isinstance(self.network.function, UserNetwork)
        return named_blocks(self.network.function.structure, self.parameters)


class JaxFunctionGaussianPolicy(JaxGaussianPolicy):
    """π(a|s) = N(apply(parameters, s), diag σ²) for Box actions, with a learned log σ
    (state-independent), trained in JAX.

    Args:
      apply: apply(parameters, observations [N, *observation_shape]) -> means [N, m].
      parameters: its initial parameters, any pytree of float arrays (copied as float64).
      observation_shape: one observation's shape, as `JaxFunctionSoftmaxPolicy`.
      action_dim: m.
      lr, dtype: as `JaxFunctionSoftmaxPolicy`.
      head: `GaussianHead`: the initial log σ, its bounds, and optionally the action box
        to squash into (a = c + h·tanh(u), with the exact log-det term); no gSDE.
    """

    def __init__(
        self,
        apply: Callable[[Any, Any], Any],
        parameters: Any,
        observation_shape: int | Sequence[int],
        action_dim: int,
        *,
        lr: float | AdamSettings = 0.01,
        head: GaussianHead = PLAIN_GAUSSIAN,
        dtype: str = "float32",
    ):
        box, std_shape, eta0 = self._settle_own_network(observation_shape, action_dim, head)
        function, arrays = user_network(apply, parameters, self.observation_shape, action_dim)
        eta = np.full(std_shape, eta0)
        self.activation = "yours"
        network = Network(
            "gaussian",
            self.activation,
            self.log_std_bounds,
            box,
            function=function,
            rank=len(self.observation_shape),
        )
        self._adopt(network, [*arrays, eta], lr, dtype)

    def sync(self) -> None:
        """log σ from η; the mean comes from calling the function."""
        self._log_std = self._log_std_of(self.parameters[-1])

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(compiled_output(self.network, self._float64(), x))

    def actor(self) -> Actor:
        return Actor(self.sample_from_noise)  # μ(s) + σ·noise, μ from the function

    def parameter_blocks(self) -> dict[str, np.ndarray]:
        assert isinstance(self.network.function, UserNetwork)
        return named_blocks(self.network.function.structure, self.parameters)


class JaxFunctionValue(JaxValue):
    """v̂(s, w) = apply(parameters, s), a critic fitted in JAX.

    Args:
      apply: apply(parameters, observations [N, *observation_shape]) -> [N, 1].
      parameters: its initial parameters, any pytree of float arrays.
      observation_shape: one observation's shape, as `JaxFunctionSoftmaxPolicy`.
      seed: seed of the stream that shuffles the regression's minibatches.
      lr, dtype: as `JaxFunctionSoftmaxPolicy`.
      regression: how `fit` regresses (`Regression`), as `JaxValue`'s.
    """

    def __init__(
        self,
        apply: Callable[[Any, Any], Any],
        parameters: Any,
        observation_shape: int | Sequence[int],
        *,
        seed: int = 0,
        lr: float | AdamSettings = 1e-3,
        regression: Regression = DEFAULT_REGRESSION,
        dtype: str = "float32",
    ):
        self.observation_shape = observation_shape_of(observation_shape)
        self._settle(regression, seed)
        function, arrays = user_network(apply, parameters, self.observation_shape, 1)
        self.activation = "yours"
        network = Network(
            "value", self.activation, function=function, rank=len(function.observation_shape)
        )
        self._adopt(network, arrays, lr, dtype)

    def sync(self) -> None:
        """Nothing to copy: v̂ calls the function itself."""

    def value(self, obs: Any) -> np.ndarray:
        output = compiled_output(self.network, self._float64(), self._observations(obs))
        return np.asarray(output)[..., 0]

    def parameter_blocks(self) -> dict[str, np.ndarray]:
        assert isinstance(self.network.function, UserNetwork)
        return named_blocks(self.network.function.structure, self.parameters)
