"""Neural policies and critics trained in JAX (optional extra `gradlogpi[jax]`).

The same networks as `torch_policies` (MLP softmax and Gaussian policies, an MLP critic),
acting through the same NumPy mirror (`policies.networks`), but trained by compiled calls:
one `maximize_minibatches` call runs all of an update's epochs × minibatches (forward,
backward, gradient clipping, Adam) as one XLA program, compiled once per objective and
array shapes; one `fit` call does the same for the critic's regression. The algorithm's
loss is the same `Objective` the PyTorch backend evaluates eagerly: nothing is written
twice.

Precision: scores, `weighted_score_sum`, the gradient check and the parameters at rest
are float64 (this module turns on JAX's 64-bit mode); training runs in `dtype` (float32
by default, as SB3 and SBX train), its results stored back as float64.

Runs on a GPU where JAX finds one (a CUDA jaxlib), without code changes; the network
here is small enough that the CPU is usually as fast.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradlogpi.core._checks import as_float_array, check_actions, check_positive_int
from gradlogpi.core.scores import SQUASH_EDGE
from gradlogpi.errors import MissingExtraError, ShapeError
from gradlogpi.policies.contract import (
    DEFAULT_ASCENT,
    Ascent,
    Minibatches,
    Objective,
    RunAxisParameters,
    RunMinibatches,
    StopRule,
    ValueFunction,
    minibatch_plan,
)
from gradlogpi.policies.networks import (
    ACTIVATIONS,
    ADAM_EPSILON,
    DEFAULT_REGRESSION,
    GSDE_VARIANCE_FLOOR,
    MLP,
    PLAIN_GAUSSIAN,
    POLICY_OUTPUT_GAIN,
    AdamSettings,
    GaussianHead,
    MirroredGaussian,
    MirroredSoftmax,
    NumpyMirror,
    Regression,
    RegressionState,
    adam_settings,
    checked_actions,
    initial_layers,
    no_critic,
)
from gradlogpi.policies.softmax_base import SoftmaxPolicy

try:
    import jax
    import jax.numpy as jnp
    import optax
    from jax.flatten_util import ravel_pytree
except ImportError as error:  # pragma: no cover - depends on the install
    raise MissingExtraError(
        'the JAX backend needs JAX and Optax: pip install "gradlogpi[jax]"'
    ) from error

jax.config.update("jax_enable_x64", True)  # type: ignore[no-untyped-call]
DTYPES = ("float32", "float64")


def use_compilation_cache(directory: str | Path | None = None) -> Path | None:
    """Keep compiled updates on disk, so a second run of the same network skips XLA's
    compile (seconds): in `directory`, else $GRADLOGPI_JAX_CACHE, else
    $XDG_CACHE_HOME/gradlogpi/jax (~/.cache/...). A cache the user already configured
    for JAX is left alone; GRADLOGPI_JAX_CACHE=off turns it off."""
    configured = jax.config.jax_compilation_cache_dir  # type: ignore[attr-defined]
    if configured:
        return Path(configured)
    chosen = directory or os.environ.get("GRADLOGPI_JAX_CACHE")
    if chosen == "off":
        return None
    if chosen is None:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        chosen = Path(base) / "gradlogpi" / "jax"
    try:
        Path(chosen).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: compile every time rather than fail
    jax.config.update("jax_compilation_cache_dir", str(chosen))  # type: ignore[no-untyped-call]
    # every program, the small ones too: a few of them (Adam's initial state, transfers)
    # compile at every start otherwise, about 35 ms each
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # type: ignore[no-untyped-call]
    return Path(chosen)


@dataclass(frozen=True)
class Network:
    """What the compiled functions need to know about a network (hashable, static)."""

    head: str
    """'softmax' (logits), 'gaussian' (mean, with η the last parameter) or 'value'."""
    activation: str
    log_std_bounds: tuple[float, float] | None = None
    """A Gaussian's smooth bounds of log σ (`GaussianHead.log_std_bounds`); None: η = log σ."""
    squash: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    """(center, half-width) of a squashed Gaussian's action box; None: not squashed."""
    gsde: bool = False
    """A gSDE Gaussian: η is [L, m] and σ(s) comes from the last hidden layer (`GSDE`)."""
    learn_features: bool = False
    """gSDE: training's gradient reaches the features through σ(s) (else they are held)."""
    function: Callable[[Parameters, Any], Any] | None = None
    """A user's network (`policies.jax_function`): (θ's arrays, x [..., k]) -> [..., out]
    in place of the MLP; None: the MLP."""
    rank: int = 1
    """Axes of one observation (1 for the MLP's [k]; a user's network may take images)."""


Parameters = tuple[Any, ...]
"""(W0, b0, W1, b1, ..., [η]): the flat order of θ, W as [in, out]."""


def dense(x: Any, weights: Any) -> Any:
    """x [..., in] @ W [in, out] in the arrays' own precision: on a GPU, JAX's default
    multiplies float32 matrices in TF32 (a 10-bit mantissa), which took float32 training
    outside float32's distance from float64 on an H200 (and PyTorch, SB3's backend, does not
    use TF32 for matrix products unless asked). On a CPU the same numbers as `x @ W`."""
    return jnp.matmul(x, weights, precision=jax.lax.Precision.HIGHEST)


def network_output(network: Network, parameters: Parameters, x: Any) -> Any:
    """The MLP (or the user's function) on x [..., k] -> [..., out] (η, if any, is not
    part of it)."""
    if network.function is not None:
        return network.function(parameters, x)
    n_layers = len(parameters) // 2
    features = network_features(network, parameters, x)
    return dense(features, parameters[2 * n_layers - 2]) + parameters[2 * n_layers - 1]


def network_features(network: Network, parameters: Parameters, x: Any) -> Any:
    """The last hidden layer's output on x [..., k] -> [..., L] (x itself without one)."""
    squash = jnp.tanh if network.activation == "tanh" else jax.nn.relu
    for i in range(len(parameters) // 2 - 1):
        x = squash(dense(x, parameters[2 * i]) + parameters[2 * i + 1])
    return x


def gaussian_moments(
    network: Network, parameters: Parameters, observations: Any, training: bool = False
) -> tuple[Any, Any]:
    """(μ(s), log σ(s)) [..., m] of a Gaussian head; with gSDE, log σ(s) = ½ log v(s) and,
    in `training` without `learn_features`, the features in v(s) held constant (SB3's)."""
    log_std = log_std_of(network, parameters[-1])
    if not network.gsde:
        mean = network_output(network, parameters, observations)
        return mean, jnp.broadcast_to(log_std, mean.shape)
    n_layers = len(parameters) // 2
    features = network_features(network, parameters, observations)
    mean = dense(features, parameters[2 * n_layers - 2]) + parameters[2 * n_layers - 1]
    if training and not network.learn_features:
        features = jax.lax.stop_gradient(features)
    variance = dense(features**2, jnp.exp(2.0 * log_std)) + GSDE_VARIANCE_FLOOR
    return mean, 0.5 * jnp.log(variance)


def log_std_of(network: Network, eta: Any) -> Any:
    """log σ: η itself, or low + (high − low)·sigmoid(η) within the network's bounds."""
    if network.log_std_bounds is None:
        return eta
    low, high = network.log_std_bounds
    return low + (high - low) * jax.nn.sigmoid(eta)


def log_prob(
    network: Network,
    parameters: Parameters,
    observations: Any,
    actions: Any,
    training: bool = False,
) -> Any:
    """log π(a|s) [...] for observations [..., k] and actions [...] or [..., m] (`training`:
    as an update differentiates it, see `gaussian_moments`)."""
    if network.head == "softmax":
        output = network_output(network, parameters, observations)
        log_probabilities = jax.nn.log_softmax(output, axis=-1)
        return jnp.take_along_axis(log_probabilities, actions[..., None], axis=-1)[..., 0]
    output, log_std = gaussian_moments(network, parameters, observations, training)
    correction: Any = 0.0
    if network.squash is not None:  # u = tanh⁻¹((a − c)/h); the Jacobian term is θ-free
        center, half_width = (jnp.asarray(x) for x in network.squash)
        x = jnp.clip((actions - center) / half_width, -1.0, 1.0)
        actions = jnp.arctanh(jnp.clip(x, -1.0 + SQUASH_EDGE, 1.0 - SQUASH_EDGE))
        stable = 2.0 * (np.log(2.0) - actions - jax.nn.softplus(-2.0 * actions))
        correction = jnp.sum(jnp.log(half_width) + stable, axis=-1)
    z = (actions - output) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * np.log(2 * np.pi), axis=-1) - correction


def entropy(
    network: Network, parameters: Parameters, observations: Any, training: bool = False
) -> Any:
    """H(π(·|s)) per state, shape [...] (`training`: see `log_prob`)."""
    if network.head == "softmax":
        log_probabilities = jax.nn.log_softmax(
            network_output(network, parameters, observations), axis=-1
        )
        return -jnp.sum(jnp.exp(log_probabilities) * log_probabilities, axis=-1)
    if network.gsde:
        _, log_std = gaussian_moments(network, parameters, observations, training)
        return jnp.sum(log_std + 0.5 * np.log(2 * np.pi * np.e), axis=-1)
    per_state = jnp.sum(log_std_of(network, parameters[-1]) + 0.5 * np.log(2 * np.pi * np.e))
    return jnp.broadcast_to(per_state, observations.shape[: observations.ndim - network.rank])


DEFAULT_MLP = MLP()
CRITIC_MLP = MLP(hidden=(64, 64))


LEGACY_ADAM_EPSILON = 1e-8
"""The ε every JAX network trained with before it was a setting (a checkpoint without one)."""


def adam(epsilon: Any = ADAM_EPSILON) -> optax.GradientTransformation:
    """Adam with PyTorch's β1, β2 and the network's ε (a traced scalar inside a compiled
    update, so a new ε is not a new program), so both backends take the same steps."""
    return optax.scale_by_adam(b1=0.9, b2=0.999, eps=epsilon)


def initial_adam_state(parameters: Parameters) -> Any:
    """`adam().init(parameters)`: step count 0 and both moments 0, put on the device from
    NumPy zeros. optax's own init runs seven small compiled programs (a conversion and a
    broadcast per shape), ≈ 4 ms each at every start-up."""

    def zeros() -> tuple[Any, ...]:
        return tuple(jax.device_put(np.zeros(p.shape, dtype=p.dtype)) for p in parameters)

    count = jax.device_put(np.zeros((), dtype=np.int32))
    return optax.ScaleByAdamState(count=count, mu=zeros(), nu=zeros())


def clipped(gradient: Any, max_grad_norm: float | None) -> Any:
    """`gradient` (any tree) with its global norm clipped as `torch.nn.utils.clip_grad_norm_`
    clips it (None: unchanged)."""
    if max_grad_norm is None:
        return gradient
    scale = jnp.minimum(1.0, max_grad_norm / (optax.tree.norm(gradient) + 1e-6))
    return jax.tree_util.tree_map(lambda g: g * scale, gradient)


def adam_step(
    gradient: Parameters,
    parameters: Parameters,
    state: Any,
    step: tuple[Any, Any],
    max_grad_norm: float | None,
) -> tuple[Parameters, Any]:
    """One Adam step down `gradient` (of a loss), its global norm clipped first; `step` is
    (learning rate, ε)."""
    learning_rate, epsilon = step
    direction, state = adam(epsilon).update(clipped(gradient, max_grad_norm), state)
    updated = jax.tree_util.tree_map(lambda p, d: p - learning_rate * d, parameters, direction)
    return updated, state


def gathered(samples: Mapping[str, Any], row: Any) -> dict[str, Any]:
    """The rows `row` (-1: padding) of every sample array, with "weight" = 1/(real rows)."""
    real = row >= 0
    safe = jnp.where(real, row, 0)
    batch = {name: array[safe] for name, array in samples.items() if name != "weight"}
    batch["weight"] = real / jnp.maximum(jnp.sum(real), 1)
    return batch


@dataclass(frozen=True)
class Program:
    """What one compiled update is specialised to (hashable: a static argument)."""

    networks: tuple[Network, ...]
    """(policy,) or (policy, critic trained jointly)."""
    objective: Objective
    stop: StopRule | None
    max_grad_norm: float | None


def epochs_of_update(
    program: Program,
    parameters: tuple[Parameters, ...],
    states: tuple[Any, ...],
    samples: dict[str, Any],
    indices: Any,
    settings: dict[str, Any],
    steps: tuple[tuple[Any, Any], ...],
) -> tuple[tuple[Parameters, ...], tuple[Any, ...], Any]:
    """All epochs × minibatches of one update, compiled: (parameters, Adam states, epochs
    run); `steps` holds each network's (learning rate, Adam ε). With a critic in `program.networks`, its v̂ enters the objective and both step
    on one loss, clipped by their joint gradient norm."""
    networks, objective, stop = program.networks, program.objective, program.stop
    policy_network = networks[0]

    def loss(parts: tuple[Parameters, ...], batch: dict[str, Any]) -> Any:
        states = batch["observations"]

        def values() -> Any:
            if len(parts) == 1:
                return no_critic()
            return network_output(networks[1], parts[1], states)[..., 0]

        return -objective(
            jnp,
            log_prob(policy_network, parts[0], states, batch["actions"], training=True),
            lambda: entropy(policy_network, parts[0], states, training=True),
            values,
            batch,
            settings,
        )

    def minibatch(carry: Any, row: Any) -> Any:
        parts, adams = carry
        gradient = clipped(jax.grad(loss)(parts, gathered(samples, row)), program.max_grad_norm)
        stepped = [
            adam_step(g, p, s, rate, None)
            for g, p, s, rate in zip(gradient, parts, adams, steps, strict=True)
        ]
        return (tuple(p for p, _ in stepped), tuple(s for _, s in stepped)), None

    def epoch(carry: Any, rows: Any) -> Any:
        parts, adams, stopped, epochs = carry
        (new_parts, new_adams), _ = jax.lax.scan(minibatch, (parts, adams), rows)
        if stop is None:  # every epoch runs: no selects between the old and new states
            return (new_parts, new_adams, stopped, epochs + 1), None

        def unless_stopped(new: Any, old: Any) -> Any:
            return jnp.where(stopped, old, new)

        parts = jax.tree_util.tree_map(unless_stopped, new_parts, parts)
        adams = jax.tree_util.tree_map(unless_stopped, new_adams, adams)
        epochs = epochs + jnp.where(stopped, 0, 1)
        log_probs = log_prob(policy_network, parts[0], samples["observations"], samples["actions"])
        stopped = stopped | stop(jnp, log_probs, samples, settings)
        return (parts, adams, stopped, epochs), None

    start = (parameters, states, jnp.asarray(False), jnp.asarray(0))
    (parameters, states, _, epochs), _ = jax.lax.scan(epoch, start, indices)
    return parameters, states, epochs


train_epochs = jax.jit(epochs_of_update, static_argnames=("program",))


@functools.partial(jax.jit, static_argnames=("program",))
def train_epochs_of_runs(
    program: Program,
    parameters: tuple[Parameters, ...],
    states: tuple[Any, ...],
    samples: dict[str, Any],
    indices: Any,
    settings: dict[str, Any],
    steps: tuple[tuple[Any, Any], ...],
) -> tuple[tuple[Parameters, ...], tuple[Any, ...], Any]:
    """`train_epochs` of R runs in one program (`vmap`): parameters, Adam states, samples
    and indices carry a leading run axis [R, ...]; settings and steps are shared. Each
    run stops by its own rule; the epochs run come back as [R]."""

    def one_run(parameters: Any, states: Any, samples: Any, indices: Any) -> Any:
        return epochs_of_update(program, parameters, states, samples, indices, settings, steps)

    return jax.vmap(one_run)(parameters, states, samples, indices)


def check_alike(runs: Sequence[Sequence[JaxNetwork]]) -> None:
    """ValueError unless every run has networks of run 0's kinds, shapes, dtypes and
    Adam settings (what one program for all of them needs)."""

    def signature(models: Sequence[JaxNetwork]) -> list[Any]:
        return [
            (type(m), m.network, m.dtype, m.lr, m.adam_epsilon, [p.shape for p in m.parameters])
            for m in models
        ]

    first = signature(runs[0])
    for run, models in enumerate(runs[1:], start=1):
        if signature(models) != first:
            raise ValueError(
                "runs trained in one call must have networks of one kind, shape, dtype and "
                "Adam settings (and, for your own network, the same `apply` function object); "
                f"run {run} differs from run 0"
            )


def stacked(trees: Sequence[Any]) -> Any:
    """Trees of the same structure as one tree of NumPy arrays with a leading run axis
    (stacked on the host: one transfer to the device for all runs)."""
    return jax.tree_util.tree_map(lambda *leaves: np.stack([np.asarray(x) for x in leaves]), *trees)


def unstacked(tree: Any, runs: int) -> list[Any]:
    """A tree with a leading run axis as one tree per run, of NumPy arrays (one transfer
    from the device for all runs)."""
    on_host = jax.tree_util.tree_map(np.asarray, tree)  # faster than device_get here
    return [jax.tree_util.tree_map(lambda leaf, k=k: leaf[k], on_host) for k in range(runs)]


@functools.partial(jax.jit, static_argnames=("max_grad_norm",))
def apply_gradient(
    gradient: Parameters,
    parameters: Parameters,
    state: Any,
    step: tuple[Any, Any],
    max_grad_norm: float | None = None,
) -> tuple[Parameters, Any]:
    """One compiled Adam step down `gradient`; `step` is (learning rate, ε)."""
    return adam_step(gradient, parameters, state, step, max_grad_norm)


def bucket(n: int) -> int:
    """The power of two ≥ n: array sizes that vary (whole-episode batches) compile a few
    programs, not one per size."""
    return 1 << max(n - 1, 0).bit_length()


def padded(array: np.ndarray, rows: int) -> np.ndarray:
    """`array` with zero rows appended up to `rows`."""
    if array.shape[0] == rows:
        return array
    pad = np.zeros((rows - array.shape[0], *array.shape[1:]), dtype=array.dtype)
    return np.concatenate([array, pad])


def padded_plan(plan: Minibatches, size: int | None = None) -> np.ndarray:
    """The plan's indices [E, B, S] padded with -1 to S a power of two (or to `size`),
    int32."""
    indices = plan.indices
    size = bucket(indices.shape[-1]) if size is None else size
    if size != indices.shape[-1]:
        pad = np.full((*indices.shape[:-1], size - indices.shape[-1]), -1)
        indices = np.concatenate([indices, pad], axis=-1)
    return indices.astype(np.int32)


DEVICE_STATE = ("_on_device", "_float64_on_device", "_adam")
"""A JAX network's attributes that hold JAX arrays."""


class JaxNetwork(NumpyMirror, RunAxisParameters):
    """Shared machinery: θ as float64 NumPy arrays at rest (the mirror), Adam's state,
    the compiled calls, flat parameters, autodiff scores in float64."""

    network: Network
    parameters: list[np.ndarray]

    def __deepcopy__(self, memo: dict[int, Any]) -> JaxNetwork:
        """A deep copy that shares the JAX arrays (θ and Adam's state on the device): they
        are immutable and no compiled call donates them, and copying each would compile a
        copy program per shape, ≈ 4 ms each when a run starts."""
        on_device = [getattr(self, name, None) for name in DEVICE_STATE]
        for leaf in jax.tree_util.tree_leaves(on_device):
            memo[id(leaf)] = leaf
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    def _setup(
        self,
        sizes: Sequence[int],
        network: Network,
        *,
        seed: int,
        lr: float | AdamSettings,
        initialization: str,
        output_gain: float = 1.0,
        dtype: str = "float32",
        extra: Sequence[np.ndarray] = (),
    ) -> None:
        if network.activation not in ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {ACTIVATIONS}; got {network.activation!r}"
            )
        self.activation = network.activation
        rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
        layers = initial_layers(sizes, initialization, output_gain, rng)
        parameters = [array for layer in layers for array in layer] + list(extra)
        self._adopt(network, parameters, lr, dtype)

    def _adopt(
        self,
        network: Network,
        parameters: list[np.ndarray],
        lr: float | AdamSettings,
        dtype: str,
    ) -> None:
        """Train `network` from θ = `parameters` (float64 arrays) with Adam at `lr`, in
        `dtype`."""
        if dtype not in DTYPES:
            raise ValueError(f"`dtype` must be one of {DTYPES}; got {dtype!r}")
        use_compilation_cache()  # before Adam's initial state, whose small programs it keeps
        self.network = network
        self.lr, self.adam_epsilon = adam_settings(lr)
        self.dtype = dtype
        self._on_device: Parameters | None = None
        self._float64_on_device: Parameters | None = None
        self.parameters = parameters
        self._adam = initial_adam_state(self._trained())
        self.sync()

    def extra_parameters(self) -> list[np.ndarray]:
        """Parameters after the layers' (η of a Gaussian policy)."""
        return []

    def sync(self) -> None:
        """Refresh the NumPy mirror from `parameters`."""
        n_layers = len(self.parameters) // 2
        self._layers = [
            (self.parameters[2 * i], self.parameters[2 * i + 1]) for i in range(n_layers)
        ]

    def _trained(self) -> Parameters:
        """θ in the training dtype, as JAX arrays: those the last update returned, kept on
        the device between updates, else (after `set_flat`) one transfer of the mirror."""
        if self._on_device is None:
            self._on_device = jax.device_put(tuple(p.astype(self.dtype) for p in self.parameters))
        return self._on_device

    def _at_rest(self) -> tuple[np.ndarray, ...]:
        """θ in the training dtype as NumPy arrays (to be stacked with other runs')."""
        return tuple(p.astype(self.dtype) for p in self.parameters)

    def _float64(self) -> Parameters:
        """θ in float64 on the device (for scores), transferred once per θ."""
        if self._float64_on_device is None:
            self._float64_on_device = jax.device_put(tuple(self.parameters))
        return self._float64_on_device

    def _store(self, parameters: Parameters, on_device: bool = False) -> None:
        """θ from arrays; `on_device`: they are the training dtype's JAX arrays, kept for
        the next update (the mirror gets float64 copies in one transfer)."""
        self._on_device = parameters if on_device else None
        self._float64_on_device = None
        # np.asarray per array: device_get's Python path costs 40 µs a call here, this 7
        self.parameters = [np.asarray(p, dtype=np.float64) for p in parameters]
        self.sync()

    @functools.cached_property
    def n_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters))

    def get_flat(self) -> np.ndarray:
        return np.concatenate([p.ravel() for p in self.parameters])

    def set_flat(self, theta: Any) -> None:
        theta = as_float_array("theta", theta)
        if theta.shape != (self.n_parameters,):
            raise ShapeError(
                f"`theta` must have shape [P] with P={self.n_parameters}; got {theta.shape}"
            )
        parameters, start = [], 0
        for p in self.parameters:
            parameters.append(theta[start : start + p.size].reshape(p.shape).copy())
            start += p.size
        self._store(tuple(parameters))

    def parameter_blocks(self) -> dict[str, np.ndarray]:
        """Index ranges of θ by name: layer{i}.weight, layer{i}.bias (and eta)."""
        names = [
            f"layer{i // 2}.{'weight' if i % 2 == 0 else 'bias'}"
            for i in range(len(self.parameters))
        ]
        if self.extra_parameters():
            names[-1] = "eta"
        blocks, start = {}, 0
        for name, p in zip(names, self.parameters, strict=True):
            blocks[name] = np.arange(start, start + p.size)
            start += p.size
        return blocks

    def _gradient(self, scalar: Callable[[Parameters], Any]) -> np.ndarray:
        """∇θ of a scalar function of θ, in float64, flat [P]."""
        flat, _ = ravel_pytree(jax.grad(scalar)(self._float64()))
        return np.asarray(flat, dtype=np.float64)

    def optimizer_state(self) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
        """Adam's step count and moments as arrays (optimizer_count, optimizer_mu_<i>,
        optimizer_nu_<i>) and its settings (JSON)."""
        arrays = {"optimizer_count": np.asarray(self._adam.count)}
        for name in ("mu", "nu"):
            for i, moment in enumerate(getattr(self._adam, name)):
                arrays[f"optimizer_{name}_{i}"] = np.asarray(moment)
        return arrays, [{"lr": self.lr, "eps": self.adam_epsilon, "dtype": self.dtype}]

    def load_optimizer_state(
        self, arrays: dict[str, np.ndarray], groups: list[dict[str, Any]]
    ) -> None:
        """Put back what `optimizer_state` returned, so training continues identically,
        with the ε it was saved with (PyTorch's 1e-8 for checkpoints from before ε was a
        setting)."""
        self.adam_epsilon = float(groups[0].get("eps", LEGACY_ADAM_EPSILON))
        moments = {
            name: tuple(
                jnp.asarray(arrays[f"optimizer_{name}_{i}"], dtype=self.dtype)
                for i in range(len(self.parameters))
            )
            for name in ("mu", "nu")
        }
        self._adam = self._adam._replace(
            count=jnp.asarray(arrays["optimizer_count"], dtype=self._adam.count.dtype),
            mu=moments["mu"],
            nu=moments["nu"],
        )

    def optimizer_step(self, gradient: np.ndarray, learning_rate_scale: float = 1.0) -> None:
        """One Adam step along the ascent direction `gradient` [P]."""
        descent = -np.asarray(gradient, dtype=self.dtype)
        pieces, start = [], 0
        for p in self.parameters:
            pieces.append(descent[start : start + p.size].reshape(p.shape))
            start += p.size
        parameters, self._adam = apply_gradient(
            tuple(pieces),
            self._trained(),
            self._adam,
            self._adam_step(learning_rate_scale),
        )
        self._store(parameters, on_device=True)

    def update_kept_finite(self, update: Callable[[], object]) -> bool:
        """Run `update`; if it leaves θ not finite, put θ and Adam back."""
        saved, adam, on_device = list(self.parameters), self._adam, self._on_device
        update()  # replaces the arrays rather than writing into them: no copies needed
        if all(np.isfinite(p).all() for p in self.parameters):
            return True
        self.parameters, self._adam, self._on_device = saved, adam, on_device
        self._float64_on_device = None
        self.sync()
        return False

    def _padded_samples(
        self, samples: Mapping[str, np.ndarray], rows: int
    ) -> dict[str, np.ndarray]:
        """Samples padded to `rows`, floats in the training dtype, with "weight", as NumPy
        arrays: a compiled call moves NumPy arguments to the device in its C++ dispatch
        (45 µs for four small arrays here, where `jax.device_put` first costs 230 µs)."""
        converted = {}
        for name, array in samples.items():
            array = np.asarray(array)
            if array.dtype.kind == "f":
                array = array.astype(self.dtype)
            converted[name] = padded(array, rows)
        n_samples = len(np.asarray(samples["observations"]))
        weight = np.zeros(rows, dtype=self.dtype)
        weight[:n_samples] = 1.0 / n_samples
        converted["weight"] = weight
        return converted

    def _adam_step(self, learning_rate_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(learning rate × scale, ε) in the training dtype, as a compiled step takes them."""
        return (
            np.asarray(self.lr * learning_rate_scale, dtype=self.dtype),
            np.asarray(self.adam_epsilon, dtype=self.dtype),
        )

    def _scalars(self, values: Mapping[str, float]) -> dict[str, Any]:
        """Scalars in the training dtype, as NumPy (traced, not compiled in)."""
        return {name: np.asarray(value, dtype=self.dtype) for name, value in values.items()}


class JaxPolicy(JaxNetwork):
    """Scores and their weighted sums by JAX autodiff in float64."""

    def maximize_minibatches(
        self,
        objective: Objective,
        samples: Mapping[str, np.ndarray],
        plan: Minibatches,
        settings: Mapping[str, float],
        ascent: Ascent = DEFAULT_ASCENT,
        critic: ValueFunction | None = None,
    ) -> int:
        """All epochs × minibatches up `objective` in one compiled call (see
        `NetworkPolicy`), with a `JaxValue` critic trained jointly if given; returns the
        epochs run."""
        models = self._trained_with(critic)
        n_samples = len(np.asarray(samples["observations"]))
        parameters, adams, epochs = train_epochs(
            Program(
                tuple(model.network for model in models),
                objective,
                ascent.stop,
                ascent.max_grad_norm,
            ),
            tuple(model._trained() for model in models),
            tuple(model._adam for model in models),
            self._padded_samples(samples, bucket(n_samples)),
            padded_plan(plan),
            self._scalars(settings),
            tuple(model._adam_step(ascent.learning_rate_scale) for model in models),
        )
        for model, trained, adam in zip(models, parameters, adams, strict=True):
            model._adam = adam
            model._store(trained, on_device=True)
        return int(epochs)

    def maximize_minibatches_together(
        self,
        updates: Sequence[RunMinibatches],
        objective: Objective,
        settings: Mapping[str, float],
        ascent: Ascent = DEFAULT_ASCENT,
    ) -> list[int]:
        """`maximize_minibatches` of several runs as one compiled call (see `RunsTogether`):
        their parameters, Adam states, samples and minibatches stacked on a run axis."""
        runs = [self._networks_of(update) for update in updates]
        check_alike(runs)
        rows = bucket(max(len(np.asarray(u.samples["observations"])) for u in updates))
        size = max(bucket(u.plan.indices.shape[-1]) for u in updates)
        samples = [
            models[0]._padded_samples(update.samples, rows)
            for models, update in zip(runs, updates, strict=True)
        ]
        n_models = len(runs[0])
        parameters, adams, epochs = train_epochs_of_runs(
            Program(
                tuple(model.network for model in runs[0]),
                objective,
                ascent.stop,
                ascent.max_grad_norm,
            ),
            tuple(stacked([models[i]._at_rest() for models in runs]) for i in range(n_models)),
            tuple(stacked([models[i]._adam for models in runs]) for i in range(n_models)),
            {name: np.stack([s[name] for s in samples]) for name in samples[0]},
            np.stack([padded_plan(update.plan, size) for update in updates]),
            self._scalars(settings),
            tuple(model._adam_step(ascent.learning_rate_scale) for model in runs[0]),
        )
        for i in range(n_models):
            per_run = zip(
                unstacked(parameters[i], len(runs)), unstacked(adams[i], len(runs)), strict=True
            )
            for models, (trained, adam) in zip(runs, per_run, strict=True):
                models[i]._adam = adam
                models[i]._store(trained)
        return [int(e) for e in np.asarray(epochs)]

    def _trained_with(self, critic: ValueFunction | None) -> list[JaxNetwork]:
        """This policy and the critic it trains jointly (a `JaxValue`), if any."""
        if critic is None:
            return [self]
        if not isinstance(critic, JaxValue):
            raise TypeError(
                f"`critic` must be a JaxValue to train with a JAX policy; got "
                f"{type(critic).__name__}"
            )
        return [self, critic]

    @staticmethod
    def _networks_of(update: RunMinibatches) -> list[JaxNetwork]:
        """A run's policy and joint critic, checked to be JAX networks."""
        if not isinstance(update.policy, JaxPolicy):
            raise TypeError(
                "runs trained in one call with a JAX policy must all have JAX policies; got "
                f"{type(update.policy).__name__}"
            )
        return update.policy._trained_with(update.critic)

    def _log_prob_inputs(self, obs: Any, a: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        raise NotImplementedError

    def _flat_inputs(self, obs: Any, a: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        """States [N', k] and actions [N', ...] padded to N' = bucket(N) rows, and the batch
        shape: the compiled scores see a few sizes, not one per batch."""
        observations, actions, batch = self._log_prob_inputs(obs, a)
        rows = bucket(int(np.prod(batch, dtype=np.int64)))
        flat_observations = observations.reshape(-1, *self.observation_shape)
        flat_actions = actions.reshape(-1, *actions.shape[len(batch) :])
        return padded(flat_observations, rows), padded(flat_actions, rows), batch

    def score(self, obs: Any, a: Any) -> np.ndarray:
        """∇θ log π(a|s) per sample by `vmap(grad)`, flat, shape [..., P]."""
        observations, actions, batch = self._flat_inputs(obs, a)
        n = int(np.prod(batch, dtype=np.int64))
        flat = per_sample_scores(self.network, self._float64(), observations, actions)
        return np.asarray(flat)[:n].reshape(*batch, -1)

    def weighted_score_sum(self, obs: Any, a: Any, weights: np.ndarray) -> np.ndarray:
        """Σ_i weights_i ∇θ log π(a_i|s_i) by one reverse pass, shape [P]."""
        observations, actions, batch = self._flat_inputs(obs, a)
        weighting = np.broadcast_to(np.asarray(weights, np.float64), batch).ravel()
        weighting = padded(weighting, observations.shape[0])
        return np.asarray(
            weighted_score_sum(self.network, self._float64(), observations, actions, weighting)
        )

    def fisher_vector_product(self, obs: Any, vector: np.ndarray) -> np.ndarray:
        """F v exactly, F the Fisher information averaged over the states `obs` [M, ...]
        (the mean KL's Hessian; see `ExactFisher`), in float64, shape [P]."""
        observations = np.asarray(obs, dtype=np.float64).reshape(-1, *self.observation_shape)
        n = observations.shape[0]
        rows = bucket(n)
        weights = np.zeros(rows)
        weights[:n] = 1.0 / n
        vector = as_float_array("vector", vector)
        if vector.shape != (self.n_parameters,):
            raise ShapeError(
                f"`vector` must have shape [P] with P={self.n_parameters}; got {vector.shape}"
            )
        product = kl_hessian_vector_product(
            self.network, self._float64(), padded(observations, rows), weights, vector
        )
        return np.asarray(product, dtype=np.float64)

    def mean_entropy_gradient(self, obs: Any) -> np.ndarray:
        """∇θ of the mean entropy over the states `obs` [..., k], shape [P]."""
        observations = self._observations(obs).reshape(-1, *self.observation_shape)
        n = observations.shape[0]
        weighting = padded(np.full(n, 1.0 / n), bucket(n))
        return np.asarray(
            weighted_entropy_gradient(
                self.network, self._float64(), padded(observations, bucket(n)), weighting
            )
        )


@functools.partial(jax.jit, static_argnames=("network",))
def per_sample_scores(
    network: Network, parameters: Parameters, observations: Any, actions: Any
) -> Any:
    """∇θ log π(a_i|s_i) for each sample, flat, [N, P] (compiled; float64 in, float64 out)."""

    def one(parameters: Parameters, observation: Any, action: Any) -> Any:
        return ravel_pytree(
            jax.grad(log_prob, argnums=1)(network, parameters, observation, action)
        )[0]

    return jax.vmap(one, in_axes=(None, 0, 0))(parameters, observations, actions)


@functools.partial(jax.jit, static_argnames=("network",))
def weighted_score_sum(
    network: Network, parameters: Parameters, observations: Any, actions: Any, weights: Any
) -> Any:
    """Σ_i w_i ∇θ log π(a_i|s_i), flat [P], by one reverse pass (compiled)."""

    def weighted(parameters: Parameters) -> Any:
        return jnp.sum(weights * log_prob(network, parameters, observations, actions))

    return ravel_pytree(jax.grad(weighted)(parameters))[0]


def kl_from(
    network: Network, reference: Parameters, parameters: Parameters, observations: Any
) -> Any:
    """KL(π_reference(·|s) ‖ π_parameters(·|s)) per state [...] (a squashed Gaussian's
    KL is its Gaussian's: tanh is a bijection)."""
    if network.head == "softmax":
        output_reference = network_output(network, reference, observations)
        output = network_output(network, parameters, observations)
        log_reference = jax.nn.log_softmax(output_reference, axis=-1)
        log_probabilities = jax.nn.log_softmax(output, axis=-1)
        return jnp.sum(jnp.exp(log_reference) * (log_reference - log_probabilities), axis=-1)
    output_reference, log_std_reference = gaussian_moments(network, reference, observations)
    output, log_std = gaussian_moments(network, parameters, observations)
    variance_ratio = jnp.exp(2.0 * (log_std_reference - log_std))
    gap = (output_reference - output) * jnp.exp(-log_std)
    per_dimension = log_std - log_std_reference + 0.5 * (variance_ratio + gap**2) - 0.5
    return jnp.sum(per_dimension, axis=-1)


@functools.partial(jax.jit, static_argnames=("network",))
def kl_hessian_vector_product(
    network: Network, parameters: Parameters, observations: Any, weights: Any, vector: Any
) -> Any:
    """H v, H the Hessian at θ' = θ of Σ_i w_i KL(π_θ(·|s_i) ‖ π_θ'(·|s_i)), flat [P]: the
    Fisher information times v, by forward-over-reverse autodiff (F is never formed)."""
    flat, unravel = ravel_pytree(parameters)

    def weighted_kl(candidate: Any) -> Any:
        return jnp.sum(weights * kl_from(network, parameters, unravel(candidate), observations))

    return jax.jvp(jax.grad(weighted_kl), (flat,), (vector,))[1]


@functools.partial(jax.jit, static_argnames=("network",))
def weighted_entropy_gradient(
    network: Network, parameters: Parameters, observations: Any, weights: Any
) -> Any:
    """∇θ Σ_i w_i H(π(·|s_i)), flat [P] (compiled)."""

    def weighted(parameters: Parameters) -> Any:
        return jnp.sum(weights * entropy(network, parameters, observations))

    return ravel_pytree(jax.grad(weighted)(parameters))[0]


class JaxSoftmaxPolicy(JaxPolicy, MirroredSoftmax, SoftmaxPolicy):  # type: ignore[override]
    """π(·|s) = softmax(MLP(s)) for Discrete actions, trained in JAX (see the module).

    Args:
      observation_dim: k.
      n_actions: A.
      network: `MLP` (hidden sizes, activation, initialisation: orthogonal by default,
        gain 0.01 for the output layer as SB3's and CleanRL's PPO).
      seed: seed of the weight initialisation.
      lr: Adam's step size, or `AdamSettings(step size, ε)` (ε 1e-5 by default, as SB3's
        PPO).
      dtype: 'float32' (default) or 'float64': what training computes in.
    """

    def __init__(
        self,
        observation_dim: int,
        n_actions: int,
        network: MLP = DEFAULT_MLP,
        *,
        seed: int = 0,
        lr: float | AdamSettings = 0.01,
        dtype: str = "float32",
    ):
        self.observation_shape = (check_positive_int("observation_dim", observation_dim),)
        self.n_actions = check_positive_int("n_actions", n_actions)
        self.hidden = tuple(check_positive_int("hidden", h) for h in network.hidden)
        sizes = [observation_dim, *self.hidden, n_actions]
        self._setup(
            sizes,
            Network("softmax", network.activation),
            seed=seed,
            lr=lr,
            initialization=network.initialization,
            output_gain=POLICY_OUTPUT_GAIN,
            dtype=dtype,
        )

    def _log_prob_inputs(self, obs: Any, a: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        observations = self._observations(obs)
        batch = self._batch_shape(observations)
        return observations, check_actions("a", a, batch, self.n_actions, "obs"), batch


class JaxGaussianPolicy(JaxPolicy, MirroredGaussian):
    """π(a|s) = N(MLP(s), diag σ²) with a learned log σ, trained in JAX.

    Args:
      observation_dim: k.
      action_dim: m.
      network, seed, lr, dtype: as `JaxSoftmaxPolicy`.
      head: `GaussianHead`: the initial log σ and, optionally, the action box to squash
        into (see `NeuralGaussianPolicy`) and gSDE's state-dependent exploration (`GSDE`).
    """

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        network: MLP = DEFAULT_MLP,
        *,
        seed: int = 0,
        lr: float | AdamSettings = 0.01,
        head: GaussianHead = PLAIN_GAUSSIAN,
        dtype: str = "float32",
    ):
        self.observation_shape = (check_positive_int("observation_dim", observation_dim),)
        self.action_dim = check_positive_int("action_dim", action_dim)
        box = self._settle_squash(head)
        self.hidden = tuple(check_positive_int("hidden", h) for h in network.hidden)
        sizes = [observation_dim, *self.hidden, action_dim]
        std_shape = self._settle_exploration(head, sizes[-2])
        eta = self._initial_eta(head.log_std0)
        self._setup(
            sizes,
            Network(
                "gaussian",
                network.activation,
                self.log_std_bounds,
                box,
                gsde=self._gsde is not None,
                learn_features=self._gsde is not None and self._gsde.learn_features,
            ),
            seed=seed,
            lr=lr,
            initialization=network.initialization,
            output_gain=POLICY_OUTPUT_GAIN,
            dtype=dtype,
            extra=[np.full(std_shape, eta)],
        )

    def extra_parameters(self) -> list[np.ndarray]:
        return [self.parameters[-1]]

    def sync(self) -> None:
        n_layers = len(self.parameters) // 2
        self._layers = [
            (self.parameters[2 * i], self.parameters[2 * i + 1]) for i in range(n_layers)
        ]
        if len(self.parameters) % 2:
            self._log_std = self._log_std_of(self.parameters[-1])

    def _log_prob_inputs(self, obs: Any, a: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        observations = self._observations(obs)
        batch = self._batch_shape(observations)
        return observations, checked_actions(a, batch, self.action_dim), batch


@functools.partial(jax.jit, static_argnames=("network", "clip_range"))
def regress(
    network: Network,
    clip_range: float | None,
    parameters: Parameters,
    state: Any,
    samples: dict[str, Any],
    indices: Any,
    step: tuple[Any, Any],
    weight_decay: Any,
) -> tuple[Parameters, Any]:
    """A critic's fit, compiled: epochs × minibatches of Adam on ½ mean (v̂ − G)², with
    PPO's value clipping against the starting prediction when `clip_range` is set, and
    the coupled L2 penalty of PyTorch's Adam(weight_decay)."""

    def loss(parameters: Parameters, batch: dict[str, Any]) -> Any:
        predicted = network_output(network, parameters, batch["observations"])[..., 0]
        error = (predicted - batch["targets"]) ** 2
        if clip_range is not None:
            start = batch["start"]
            moved = start + jnp.clip(predicted - start, -clip_range, clip_range)
            error = jnp.maximum(error, (moved - batch["targets"]) ** 2)
        return 0.5 * jnp.sum(batch["weight"] * error)

    def minibatch(carry: Any, row: Any) -> Any:
        parameters, state = carry
        gradient = jax.grad(loss)(parameters, gathered(samples, row))
        gradient = jax.tree_util.tree_map(lambda g, p: g + weight_decay * p, gradient, parameters)
        return adam_step(gradient, parameters, state, step, None), None

    (parameters, state), _ = jax.lax.scan(
        minibatch, (parameters, state), indices.reshape(-1, indices.shape[-1])
    )
    return parameters, state


class JaxValue(RegressionState, JaxNetwork):
    """v̂(s, w) = MLP(s), a critic for Box observations [k], fitted in JAX.

    Args:
      observation_dim: k.
      network, seed, lr, dtype: as `JaxSoftmaxPolicy` (two hidden layers of 64 by default).
      regression: how `fit` regresses (`Regression`: epochs, minibatches, value clipping,
        weight decay), as `NeuralValue`'s.
    """

    def __init__(
        self,
        observation_dim: int,
        network: MLP = CRITIC_MLP,
        *,
        seed: int = 0,
        lr: float | AdamSettings = 1e-3,
        regression: Regression = DEFAULT_REGRESSION,
        dtype: str = "float32",
    ):
        self.observation_shape = (check_positive_int("observation_dim", observation_dim),)
        self.hidden = tuple(check_positive_int("hidden", h) for h in network.hidden)
        self._settle(regression, seed)
        self._setup(
            [observation_dim, *self.hidden, 1],
            Network("value", network.activation),
            seed=seed,
            lr=lr,
            initialization=network.initialization,
            dtype=dtype,
        )

    def value(self, obs: Any) -> np.ndarray:
        """v̂(s, w), shape [...]."""
        return self._forward(self._observations(obs))[..., 0]

    def gradient(self, obs: Any) -> np.ndarray:
        """∇_w v̂(s, w) per state by `vmap(grad)`, flat, shape [..., P]."""
        observations = self._observations(obs)
        batch = self._batch_shape(observations)
        network = self.network

        def one(parameters: Parameters, observation: Any) -> Any:
            return network_output(network, parameters, observation)[0]

        per_sample = jax.vmap(jax.grad(one), in_axes=(None, 0))(
            self._float64(), observations.reshape(-1, *self.observation_shape)
        )
        flat = np.concatenate([np.asarray(g).reshape(g.shape[0], -1) for g in per_sample], axis=1)
        return flat.reshape(*batch, -1)

    def ascend(self, obs: Any, step: Any) -> None:
        """w ← w + Σ step · ∇_w v̂(s, w) over the batch (one reverse pass)."""
        observations = self._observations(obs)
        steps = jnp.asarray(
            np.broadcast_to(as_float_array("step", step), self._batch_shape(observations))
        )
        network = self.network
        gradient = self._gradient(
            lambda p: jnp.sum(steps * network_output(network, p, observations)[..., 0])
        )
        self.set_flat(self.get_flat() + gradient)

    def fit(self, obs: Any, targets: np.ndarray, ridge: float) -> None:
        """Regress v̂ on the targets [M] at states `obs` [M, k] in one compiled call:
        epochs × minibatches of Adam on the squared error, L2 penalty `weight_decay`·‖w‖²
        (`ridge`, the linear critic's, is not used: see `NeuralValue.fit`)."""
        observations = self._observations(obs)
        targets = np.asarray(targets, dtype=np.float64)
        n_samples = observations.shape[0]
        plan = minibatch_plan(n_samples, self.epochs, self.minibatches, self._shuffle)
        samples = {"observations": observations, "targets": targets}
        if self.clip_range is not None:
            samples["start"] = self.value(observations)
        parameters, self._adam = regress(
            self.network,
            self.clip_range,
            self._trained(),
            self._adam,
            self._padded_samples(samples, bucket(n_samples)),
            padded_plan(plan),
            self._adam_step(),
            np.asarray(2.0 * self.weight_decay, dtype=self.dtype),
        )
        self._store(parameters, on_device=True)
