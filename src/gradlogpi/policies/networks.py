"""What every neural policy shares, whatever backend trains it: the NumPy mirror.

Acting and evaluation never touch the training backend (PyTorch or JAX): after every
update the network's weights are copied into NumPy arrays (`_layers`, weight [in, out] and
bias [out] per layer), and the forward pass for a batch of states is two or three small
NumPy matrix products. The backend is used where it earns its cost: autodiff of an
objective over a batch, and the optimizer.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from gradlogpi.core._checks import as_float_array, check_positive, check_positive_int
from gradlogpi.core.scores import gaussian_log_prob, squash, squashed_gaussian_log_prob
from gradlogpi.core.softmax import normal_noise
from gradlogpi.errors import ShapeError
from gradlogpi.policies.actor import Actor, gaussian_actor, softmax_actor
from gradlogpi.policies.linear_gaussian import bounded_log_std, log_std_parameter

ACTIVATIONS = ("tanh", "relu")
INITIALIZATIONS = ("orthogonal", "uniform")
POLICY_OUTPUT_GAIN = 0.01
"""Gain of a policy network's last layer under orthogonal initialisation."""
ADAM_EPSILON = 1e-5
"""Adam's ε in the denominator √v̂ + ε of every network's step: SB3's and CleanRL's PPO
value (PyTorch's own default is 1e-8, which lets a parameter with tiny gradients take
full-size steps)."""


class AdamSettings(NamedTuple):
    """A network's Adam: step size and ε (β1 = 0.9, β2 = 0.999 as PyTorch's)."""

    learning_rate: float
    epsilon: float = ADAM_EPSILON


def adam_settings(lr: float | AdamSettings) -> AdamSettings:
    """A network's `lr` argument as `AdamSettings` (a float is the step size, with the
    default ε), or ValueError naming what is not > 0."""
    settings = lr if isinstance(lr, AdamSettings) else AdamSettings(lr)
    learning_rate = check_positive("lr", settings.learning_rate)
    return AdamSettings(learning_rate, check_positive("lr.epsilon", settings.epsilon))


class MLP(NamedTuple):
    """A network's shape and how its first weights are drawn (the JAX backend's networks)."""

    hidden: tuple[int, ...] = (64,)
    """Hidden layer sizes."""
    activation: str = "tanh"
    """'tanh' or 'relu' between layers."""
    initialization: str = "orthogonal"
    """'orthogonal' (gain √2 hidden, the output layer's own gain, zero biases; SB3's and
    CleanRL's PPO) or 'uniform' (U(±1/√fan_in), PyTorch's default)."""


GSDE_VARIANCE_FLOOR = 1e-6
"""Added to a gSDE policy's variance, so σ(s) > 0 even where every feature is 0 (SB3's ε;
the sampled actions carry it too, so they follow π(a|s) exactly)."""


class GSDE(NamedTuple):
    """Generalised state-dependent exploration (Raffin, Kober & Stulp 2022; SB3's
    `use_sde`): the policy's noise is f(s)ᵀ E, f(s) [L] the last hidden layer, E [L, m] an
    exploration matrix drawn from N(0, σ²) entrywise (σ [L, m] learned). Per state this is
    π(a|s) = N(μ(s), diag v(s)), v(s)_j = Σ_l f_l(s)² σ_lj² + 1e-6; within a rollout E is
    held for `sample_every` steps, so consecutive actions explore coherently."""

    sample_every: int = 4
    """Steps of step-based collection (`collection = "steps"` or `"ray"`, any on-policy
    algorithm) between draws of E, counted from each update's first step (SB3's
    `sde_sample_freq`); 0: one E per update. Episode collection and evaluation draw a
    fresh E every step: independent samples of π(a|s)."""
    learn_features: bool = False
    """Let the minibatch updates' gradient (PPO, A2C, neural REINFORCE, batch_pg's vanilla
    step) reach f(s) through v(s) (SB3's `learn_features`, default False: those updates
    treat f(s) in v(s) as constants). Scores (`score`, `gradlogpi check`) and the updates
    built on them (TRPO, natural and eNAC batch_pg) always use the exact ∇θ log π."""

    @staticmethod
    def of(head: GaussianHead) -> GSDE | None:
        """`head.gsde` checked: None, or a `GSDE` whose settings are in range; ValueError
        naming what is not."""
        if head.gsde is None:
            return None
        if not isinstance(head.gsde, GSDE):
            raise ValueError(f"`head.gsde` must be a GSDE or None; got {type(head.gsde).__name__}")
        return head.gsde.checked()

    def checked(self) -> GSDE:
        """These settings, or ValueError naming the one out of range."""
        every = self.sample_every
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ValueError(f"`gsde.sample_every` must be an int >= 0; got {every!r}")
        if not isinstance(self.learn_features, bool):
            raise ValueError(f"`gsde.learn_features` must be a bool; got {self.learn_features!r}")
        return self


class GaussianHead(NamedTuple):
    """How a neural Gaussian policy's output becomes an action distribution."""

    log_std0: float = 0.0
    """Initial log σ (strictly inside `log_std_bounds` where those are set); with gSDE, of
    every entry of σ [L, m]."""
    squash_bounds: tuple[Any, Any] | None = None
    """(low, high) of the action box to squash into: a = c + h·tanh(u), u ~ N(μ(s), σ²),
    log π carrying the exact log |da/du|; None: the plain Gaussian (the collector clips
    its samples to the box)."""
    gsde: GSDE | None = None
    """State-dependent exploration (`GSDE`) instead of a state-independent σ; None: σ [m]
    is a parameter of its own."""
    log_std_bounds: tuple[float, float] | None = None
    """None: the parameter η is log σ itself (SB3's and CleanRL's PPO). (low, high): log σ
    = low + (high − low)·sigmoid(η), smoothly bounded (`BOUNDED_LOG_STD`, every neural
    Gaussian's form before 2026-12-03): Adam's steps on η then move log σ by up to
    (high − low)/4 times as much, so σ shrinks faster than SB3's at the same rate."""


PLAIN_GAUSSIAN = GaussianHead()
FREE_LOG_STD_LIMIT = 20.0
"""|log σ0| allowed for a free log σ: outside, σ² under- or overflows in float32."""
BOUNDED_LOG_STD = (-5.0, 2.0)
"""The smooth bounds of log σ that neural Gaussians had before the free log σ."""


class Regression(NamedTuple):
    """How a neural critic's `fit` regresses: epochs × minibatches of Adam."""

    epochs: int = 10
    """Passes over the targets in each fit."""
    minibatches: int = 4
    """Minibatches per pass."""
    clip_range: float | None = None
    """PPO's value clipping (SB3's `clip_range_vf`): each fit's prediction may move at most
    this far from the one it starts at, per state, through the loss
    max((v̂ − G)², (v̂_old + clip(v̂ − v̂_old, ±c) − G)²). None: off."""
    weight_decay: float = 0.0
    """c of an L2 penalty c·‖w‖² on the weights (0: none, as SB3)."""

    def checked(self) -> Regression:
        """These settings, or ValueError naming the one out of range."""
        for name in ("epochs", "minibatches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`regression.{name}` must be an int >= 1; got {value!r}")
        if self.clip_range is not None and not self.clip_range > 0:
            raise ValueError(
                f"`regression.clip_range` must be > 0 or None; got {self.clip_range!r}"
            )
        if not self.weight_decay >= 0:
            raise ValueError(f"`regression.weight_decay` must be >= 0; got {self.weight_decay!r}")
        return self


DEFAULT_REGRESSION = Regression()


class RegressionState:
    """What every network critic keeps beside its network, whatever the backend: its
    `Regression` settings and the stream that shuffles its minibatches, and the
    checkpoint form of both with its optimizer."""

    epochs: int
    minibatches: int
    clip_range: float | None
    weight_decay: float
    _shuffle: np.random.Generator
    # the backend's (declared for the type checker; no runtime effect)
    get_flat: Any
    optimizer_state: Any
    load_optimizer_state: Any

    def _settle(self, regression: Regression, seed: int) -> None:
        """Take `regression` (checked) and start the shuffling stream of `seed`."""
        regression = regression.checked()
        self.epochs, self.minibatches = regression.epochs, regression.minibatches
        self.clip_range, self.weight_decay = regression.clip_range, regression.weight_decay
        self._shuffle = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])

    @property
    def w(self) -> np.ndarray:
        """The weights, flat [P] (a copy; `set_flat` replaces them)."""
        return np.asarray(self.get_flat())

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Adam's state (arrays), its settings and the minibatch stream (JSON)."""
        arrays, groups = self.optimizer_state()
        return arrays, {"groups": groups, "shuffle": self._shuffle.bit_generator.state}

    def load_training_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        """Put a `training_state` back, so the next fit is the uninterrupted run's."""
        if arrays:
            self.load_optimizer_state(arrays, extra["groups"])
        self._shuffle.bit_generator.state = extra["shuffle"]


def numpy_mlp_function(layers: list[tuple[np.ndarray, np.ndarray]], activation: str) -> Any:
    """x [..., k] → the output of the hidden `layers` (weight, bias), in NumPy, no checks."""
    squash = np.tanh if activation == "tanh" else _relu

    def forward(obs: Any) -> np.ndarray:
        x = obs
        for weight, bias in layers:
            x = matrix_product(x, weight)
            x += bias  # in place (the product is a new array): the same sums, no allocation
            squash(x, out=x)
        return x

    return forward


def matrix_product(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """x [..., k] @ weight [k, m] -> [..., m] through BLAS: NumPy's `dot` of an array with
    more than two axes takes a slow non-BLAS loop (0.5 ms for [32, 8, 64] @ [64, 64])."""
    if x.ndim <= 2:
        return x.dot(weight)
    return x.reshape(-1, x.shape[-1]).dot(weight).reshape(*x.shape[:-1], weight.shape[-1])


def _relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(x, 0.0, out=x if out is None else out)


def initial_layers(
    sizes: Sequence[int],
    initialization: str,
    output_gain: float,
    rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight [in, out], bias [out]) per layer, float64, drawn from `rng`.

    'orthogonal': orthogonal weights (the Q of a Gaussian matrix's QR, signs fixed) with
    gain √2 in the hidden layers and `output_gain` in the last, zero biases (SB3's and
    CleanRL's PPO); 'uniform': U(±1/√fan_in) for weights and biases (PyTorch's default).
    """
    if initialization not in INITIALIZATIONS:
        raise ValueError(
            f"`initialization` must be one of {INITIALIZATIONS}; got {initialization!r}"
        )
    layers = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        if initialization == "orthogonal":
            gain = output_gain if i == len(sizes) - 2 else float(np.sqrt(2.0))
            gaussian = rng.standard_normal((max(fan_in, fan_out), min(fan_in, fan_out)))
            q, r = np.linalg.qr(gaussian)
            q = q * np.sign(np.diag(r))
            weight = gain * (q if fan_in >= fan_out else q.T)
            bias = np.zeros(fan_out)
        else:
            bound = 1.0 / np.sqrt(fan_in)
            weight = rng.uniform(-bound, bound, (fan_in, fan_out))
            bias = rng.uniform(-bound, bound, fan_out)
        layers.append((np.ascontiguousarray(weight), bias))
    return layers


def observation_shape_of(observation_shape: int | Sequence[int]) -> tuple[int, ...]:
    """`observation_shape` as a tuple of positive ints (an int k is (k,))."""
    dimensions: Any = observation_shape
    if isinstance(dimensions, numbers.Integral):
        dimensions = (dimensions,)
    try:
        if isinstance(dimensions, str | bytes):
            raise TypeError
        entries = list(dimensions)
        if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in entries):
            raise TypeError
        shape = tuple(int(d) for d in entries)
    except TypeError:
        raise TypeError(
            "`observation_shape` must be an int or a sequence of ints, e.g. (4,) or "
            f"(3, 84, 84); got {observation_shape!r}"
        ) from None
    if not shape or any(d < 1 for d in shape):
        raise ValueError(
            f"`observation_shape` must be one or more positive ints; got {observation_shape!r}"
        )
    return shape


def flattened_call(
    call: Callable[[Any], Any], observations: Any, observation_shape: tuple[int, ...]
) -> Any:
    """`call` on observations [..., *observation_shape] (torch or JAX arrays) as one batch
    [N, *observation_shape], as a user's network expects them; its output [N, out] comes
    back as [..., out]."""
    batch = observations.shape[: observations.ndim - len(observation_shape)]
    output = call(observations.reshape(-1, *observation_shape))
    return output.reshape(*batch, output.shape[-1])


class NumpyMirror:
    """The network's weights as NumPy arrays, and its forward pass on them."""

    _layers: list[tuple[np.ndarray, np.ndarray]]
    activation: str
    observation_shape: tuple[int, ...]

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """The network in NumPy: x [..., k] -> output [..., out]."""
        *hidden, (weight, bias) = self._layers
        return matrix_product(numpy_mlp_function(hidden, self.activation)(x), weight) + bias

    def _batch_shape(self, observations: np.ndarray) -> tuple[int, ...]:
        """The leading axes of `observations` before one observation's."""
        return observations.shape[: observations.ndim - len(self.observation_shape)]

    def _observations(self, obs: Any) -> np.ndarray:
        obs = as_float_array("obs", obs)
        n = len(self.observation_shape)
        if obs.ndim < n or obs.shape[obs.ndim - n :] != self.observation_shape:
            raise ShapeError(
                f"`obs` must have shape [..., {', '.join(map(str, self.observation_shape))}] "
                f"(observation_shape={self.observation_shape}); got {obs.shape}"
            )
        return obs


class MirroredSoftmax(NumpyMirror):
    """π(·|s) = softmax(MLP(s)) on the mirror: logits and a lean actor (with
    `SoftmaxPolicy`, which gives sampling, log-probabilities and entropy from the logits)."""

    n_actions: int

    def logits(self, obs: Any) -> np.ndarray:
        return self._forward(self._observations(obs))

    def actor(self) -> Actor:
        """Gumbel-max acting through the MLP's NumPy mirror for one state."""
        *hidden, (weight, bias) = self._layers
        if self.n_actions == 2:  # the output's difference is all `softmax_actor` needs
            weight, bias = weight[:, 1] - weight[:, 0], np.array([0.0, bias[1] - bias[0]])
        body = numpy_mlp_function(hidden, self.activation)
        return softmax_actor(lambda obs: body(obs).dot(weight), bias)

    def batch_actor(self) -> Actor:
        """`sample_from_noise` for the sub-envs' observations [N, ...], with the mirror's
        layers and checks taken once per update: the same operations, the same actions.
        A subclass whose logits are not the mirror's acts through its own `logits`."""
        if type(self).logits is not MirroredSoftmax.logits:
            return Actor(lambda obs, noise: np.argmax(self.logits(obs) + noise, axis=-1))
        *hidden, (weight, bias) = self._layers
        body = numpy_mlp_function(hidden, self.activation)
        shape = self.observation_shape

        def act(obs: Any, noise: np.ndarray) -> np.ndarray:
            obs = np.asarray(obs, dtype=np.float64)
            if obs.shape[1:] != shape:  # not [N, *observation_shape]: the checked way
                return np.argmax(self.logits(obs) + noise, axis=-1)
            return np.argmax(matrix_product(body(obs), weight) + bias + noise, axis=-1)

        return Actor(act)


def gsde_variance(features: np.ndarray, std: np.ndarray) -> np.ndarray:
    """v(s) = f(s)² σ² + 1e-6 of a gSDE policy: features [..., L], σ [L, m] → [..., m]."""
    return matrix_product(features**2, std**2) + GSDE_VARIANCE_FLOOR


def without_gsde(head: GaussianHead) -> GaussianHead:
    """`head`, once it asks for no gSDE: gSDE's σ(s) is built on the built-in MLP's last
    hidden layer, which a user's network does not expose."""
    if head.gsde is not None:
        raise ValueError(
            "`head.gsde` needs the built-in MLP's last hidden layer; a Gaussian policy on "
            "your own network explores with a state-independent σ: got a GSDE"
        )
    return head


class MirroredGaussian(NumpyMirror):
    """π(a|s) = N(MLP(s), diag σ²) with a state-independent σ, on the mirror; squashed
    into the action box (a = c + h·tanh(u), u ~ N(μ, σ²)) when `_squash` is set; with
    `_gsde` set, σ(s) is state-dependent (see `GSDE`)."""

    action_dim: int
    noise_size: int
    _log_std: np.ndarray
    """log σ [action_dim] (with gSDE [L, action_dim]), refreshed with the mirror."""
    _squash: tuple[np.ndarray, np.ndarray] | None = None
    """(center c, half-width h) of the action box a squashed policy maps into; None: the
    plain Gaussian, whose samples the collector clips to the box."""
    _gsde: GSDE | None = None
    """gSDE's settings; None: a state-independent σ."""
    log_std_bounds: tuple[float, float] | None = None
    """`GaussianHead.log_std_bounds`: None, η = log σ; else log σ's smooth bounds."""

    def _settle_squash(
        self, head: GaussianHead
    ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """Take `head`'s action box to squash into, if any; returns it as (center,
        half-width) tuples (hashable, for a compiled program), or None."""
        if head.squash_bounds is None:
            return None
        self._squash = squash_box(*head.squash_bounds, self.action_dim)
        return (tuple(self._squash[0].tolist()), tuple(self._squash[1].tolist()))

    def _settle_own_network(
        self, observation_shape: int | Sequence[int], action_dim: int, head: GaussianHead
    ) -> tuple[tuple[tuple[float, ...], tuple[float, ...]] | None, tuple[int, ...], float]:
        """Shapes and head of a Gaussian on a user's network (checked; no gSDE): returns
        the squash box (or None), σ's shape [m] and the initial η."""
        self.observation_shape = observation_shape_of(observation_shape)
        self.action_dim = check_positive_int("action_dim", action_dim)
        head = without_gsde(head)
        box = self._settle_squash(head)
        return box, self._settle_exploration(head, 0), self._initial_eta(head.log_std0)

    def _settle_exploration(self, head: GaussianHead, n_features: int) -> tuple[int, ...]:
        """Take `head`'s gSDE settings and log σ's bounds (checked) and the noise they
        need; returns σ's shape: [m], or with gSDE [L, m] for L = `n_features` (the last
        hidden layer's width)."""
        self.log_std_bounds = checked_log_std_bounds(head)
        self._gsde = GSDE.of(head)
        if self._gsde is None:
            self.noise_size = 2 * self.action_dim
            return (self.action_dim,)
        self.noise_size = 2 * (n_features + 1) * self.action_dim  # E [L, m] and the floor's
        return (n_features, self.action_dim)

    def _initial_eta(self, log_std0: float) -> float:
        """The η that gives log σ = `log_std0`."""
        if self.log_std_bounds is None:
            return float(log_std0)
        return log_std_parameter(log_std0, *self.log_std_bounds)

    def _log_std_of(self, eta: np.ndarray) -> np.ndarray:
        """log σ from η (a copy)."""
        if self.log_std_bounds is None:
            return np.array(eta, dtype=np.float64)
        return bounded_log_std(np.asarray(eta, dtype=np.float64), *self.log_std_bounds)[0]

    @property
    def exploration_period(self) -> int | None:
        """Steps a step collector holds each draw of the noise for (gSDE's `sample_every`;
        0: a whole update); None: fresh noise every step."""
        return None if self._gsde is None else self._gsde.sample_every

    def _moments(self, obs: Any) -> tuple[np.ndarray, np.ndarray]:
        """(μ(s), log σ(s)), each [..., m]."""
        x = self._observations(obs)
        if self._gsde is None:
            mean = self._forward(x)
            return mean, np.broadcast_to(self._log_std, mean.shape)
        features, mean = self._features_and_mean(x)
        return mean, 0.5 * np.log(gsde_variance(features, np.exp(self._log_std)))

    def _features_and_mean(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(f(s) the last hidden layer [..., L], μ(s) [..., m]) for checked states x."""
        *hidden, (weight, bias) = self._layers
        features = numpy_mlp_function(hidden, self.activation)(x)
        return features, matrix_product(features, weight) + bias

    def mean(self, obs: Any) -> np.ndarray:
        """μ(s), the mean of the Gaussian (before squashing, for a squashed policy)."""
        return self._forward(self._observations(obs))

    def log_std(self, obs: Any) -> np.ndarray:
        return self._moments(obs)[1].copy()

    def log_prob(self, obs: Any, a: Any) -> np.ndarray:
        mean, log_std = self._moments(obs)
        actions = as_float_array("a", a)
        if self._squash is not None:
            return squashed_gaussian_log_prob(mean, log_std, actions, *self._squash)
        return gaussian_log_prob(mean, log_std, actions)

    def entropy(self, obs: Any) -> np.ndarray:
        """H of the Gaussian (before squashing, for a squashed policy: what its entropy
        bonus rewards; the squashed distribution's entropy has no closed form)."""
        _, log_std = self._moments(obs)
        return (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(axis=-1)

    def _shaped(self, u: np.ndarray) -> np.ndarray:
        return u if self._squash is None else squash(u, *self._squash)

    def deterministic_action(self, obs: Any) -> np.ndarray:
        """μ(s), squashed for a squashed policy (SB3's deterministic action)."""
        return self._shaped(self.mean(obs))

    def sample(self, obs: Any, rng: np.random.Generator) -> np.ndarray:
        mean, log_std = self._moments(obs)
        return self._shaped(mean + np.exp(log_std) * rng.standard_normal(mean.shape))

    def sample_from_uniforms(self, obs: Any, uniforms: np.ndarray) -> np.ndarray:
        return self.sample_from_noise(obs, normal_noise(uniforms))

    def transform_noise(self, uniforms: np.ndarray) -> np.ndarray:
        return normal_noise(uniforms)

    def sample_from_noise(self, obs: Any, noise: np.ndarray) -> np.ndarray:
        """Actions from standard normals: [..., m]; with gSDE [..., L·m + m], an
        exploration matrix E (row-major [L, m]) and the floor's own noise, so that
        a = μ(s) + f(s)ᵀ(σ ⊙ E) + 1e-3·e."""
        if self._gsde is None:
            return self._shaped(self.mean(obs) + np.exp(self._log_std) * noise)
        features, mean = self._features_and_mean(self._observations(obs))
        n_features, m = self._log_std.shape
        matrix = noise[..., : n_features * m].reshape(*noise.shape[:-1], n_features, m)
        explored = np.einsum("...l,...lm->...m", features, matrix * np.exp(self._log_std))
        floor = np.sqrt(GSDE_VARIANCE_FLOOR) * noise[..., n_features * m :]
        return self._shaped(mean + explored + floor)

    def batch_actor(self) -> Actor:
        """Actions for a batch of states at once (one per sub-environment)."""
        return Actor(self.sample_from_noise)

    def actor(self) -> Actor:
        if self._gsde is not None:
            return Actor(self.sample_from_noise)
        *hidden, (weight, bias) = self._layers
        body = numpy_mlp_function(hidden, self.activation)
        std = np.exp(self._log_std)
        if self._squash is not None:
            center, half_width = self._squash
            return Actor(
                lambda obs, scaled: squash(
                    body(obs).dot(weight) + bias + scaled, center, half_width
                ),
                lambda noise: noise * std,
            )
        return gaussian_actor(lambda obs: body(obs).dot(weight) + bias, std)


def checked_log_std_bounds(head: GaussianHead) -> tuple[float, float] | None:
    """`head.log_std_bounds` as floats, or ValueError unless they are finite, low < high,
    and the initial log σ lies strictly between them."""
    if head.log_std_bounds is None:
        if not -FREE_LOG_STD_LIMIT <= head.log_std0 <= FREE_LOG_STD_LIMIT:
            raise ValueError(
                f"`log_std0` must be within ±{FREE_LOG_STD_LIMIT:g} (σ from e^-20 to e^20; "
                f"beyond, σ overflows or vanishes); got {head.log_std0}"
            )
        return None
    try:
        low, high = (float(bound) for bound in head.log_std_bounds)
    except (TypeError, ValueError):
        raise ValueError(
            f"`log_std_bounds` must be None or (low, high); got {head.log_std_bounds!r}"
        ) from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(
            f"`log_std_bounds` must be finite with low < high; got {head.log_std_bounds!r}"
        )
    if not low < head.log_std0 < high:
        raise ValueError(
            f"`log_std0` must lie strictly between the log σ bounds {low} and {high}; "
            f"got {head.log_std0}"
        )
    return low, high


def squash_box(low: Any, high: Any, action_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(center, half-width) of the box [low, high]^m a squashed policy maps into, or
    ValueError naming the bounds that are not finite, not of shape [m] or not low < high."""
    low_array = np.broadcast_to(np.asarray(low, dtype=np.float64), (action_dim,))
    high_array = np.broadcast_to(np.asarray(high, dtype=np.float64), (action_dim,))
    if not (np.isfinite(low_array).all() and np.isfinite(high_array).all()):
        raise ValueError(
            f"`squash` needs finite action bounds; got low={low_array.tolist()}, "
            f"high={high_array.tolist()}"
        )
    if not (low_array < high_array).all():
        raise ValueError(
            f"`squash` needs low < high in every dimension; got low={low_array.tolist()}, "
            f"high={high_array.tolist()}"
        )
    return (high_array + low_array) / 2.0, (high_array - low_array) / 2.0


def no_critic() -> Any:
    """What an objective's `values` is without a critic: a named refusal."""
    raise ValueError(
        "this objective reads v̂(s) of a critic trained with the policy: pass `critic` to "
        "maximize_minibatches"
    )


def checked_actions(a: Any, batch: tuple[int, ...], action_dim: int) -> np.ndarray:
    """Box actions as float64 of shape batch + [action_dim], or ShapeError naming `a`."""
    actions = as_float_array("a", a)
    if actions.shape != (*batch, action_dim):
        raise ShapeError(f"`a` must have shape {(*batch, action_dim)}; got {actions.shape}")
    return actions
