"""The policy contract: what algorithms may ask of a policy, written down as Protocols.

Algorithms and runs type their arguments with these instead of probing with `hasattr`.
Every policy the library ships satisfies `Policy`; the narrower protocols name one
capability each, and an algorithm checks for it with `isinstance` (the protocols are
runtime-checkable, which checks that the methods exist, not their signatures).

Parameters always travel the same way: `get_theta()` gives θ as a flat vector with a run
axis, shape [R, P] (R = 1 for a policy that learns one run), whatever the policy keeps
inside (a NumPy array, a PyTorch network).

    Policy                 every policy: log π, the score, sampling from pre-drawn noise,
                           a per-episode actor, θ as [R, P]
    ├─ DiscretePolicy      n_actions and π(·|s) (softmax policies)
    ├─ GaussianPolicy      action_dim, μ(s) and log σ(s) (Gaussian policies)
    ├─ ArrayPolicy         θ is a NumPy array that algorithms step in place (`ascend`):
    │                      linear softmax, matrix softmax, linear Gaussian
    └─ NetworkPolicy       θ lives in a network (PyTorch or JAX) stepped by its own
       │                   optimizer; epochs of minibatch steps up an `Objective`
       └─ TorchTrainedPolicy  the PyTorch backend: torch tensors that carry gradients
    ValueFunction          v̂(s, w) = wᵀx(s): value, gradient, ascend, w [R, k]
    └─ NetworkValueFunction  a network critic with its own optimizer
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar, _ProtocolMeta, runtime_checkable

import numpy as np
import numpy.typing as npt

from gradlogpi.policies.actor import Actor

Observations = npt.ArrayLike
"""States, [..., *observation_shape]: anything NumPy turns into such an array."""
Actions = npt.ArrayLike
"""Actions, [...] (Discrete) or [..., action_dim] (Box)."""
Parameters = npt.ArrayLike
"""A flat parameter vector [P] (or [R, P] with a run axis)."""
TorchTensor = Any
"""A `torch.Tensor`: PyTorch is an optional extra, so the contract does not import it."""
JSON = dict[str, Any]
"""Settings stored as JSON in a checkpoint (an optimiser's parameter groups, RNG states)."""
BackendArray = Any
"""An array of the backend an objective is evaluated in (`numpy`, `torch`, `jax.numpy`)."""
ArrayNamespace = Any
"""The module an objective computes with (`numpy`, `torch` or `jax.numpy`): `xp.exp`,
`xp.sum`, `xp.clip`, `xp.minimum`, `xp.where`, `xp.sqrt`, `xp.expm1` mean the same in each."""


class RememberedProtocol(_ProtocolMeta):
    """The metaclass of the contract's protocols: an `isinstance` that found every member
    is remembered for the object's class. Python 3.11 looks up each member of a runtime
    protocol on every check (≈ 20 µs for `NetworkPolicy`), and the training loops ask
    several times an update.

    Only a class whose attributes are looked up the ordinary way is remembered: what an
    instance has then comes from the class and from its own `__init__`, alike for every
    instance once built. A class that answers lookups itself (`__getattr__`, as the
    wrappers `GreedyPolicy` and `ObservationNormalizedPolicy` forward to the policy they
    wrap) is asked every time, and so is every "no" (an object asked while it is still
    being built may not have all its attributes yet). Classes are held weakly."""

    def __instancecheck__(cls, instance: object) -> bool:
        kind = type(instance)
        remembered = _SATISFIED.get(kind)
        if remembered is not None and cls in remembered:
            return True
        answer = super().__instancecheck__(instance)
        if answer and _ordinary_lookup(kind):
            _SATISFIED.setdefault(kind, set()).add(cls)
        return answer


def _ordinary_lookup(kind: type) -> bool:
    """Whether `kind`'s instances find their attributes only in the class and their own
    `__dict__` (no `__getattr__`, no custom `__getattribute__`)."""
    return (
        getattr(kind, "__getattr__", None) is None
        and kind.__getattribute__ is object.__getattribute__  # type: ignore[comparison-overlap]
    )


_SATISFIED: weakref.WeakKeyDictionary[type, set[type]] = weakref.WeakKeyDictionary()
"""Per class, the protocols it was found to satisfy. Not an attribute of the metaclass:
Python 3.11 would read the metaclass's annotations as the protocols' members."""


@runtime_checkable
class Objective(Protocol, metaclass=RememberedProtocol):
    """A scalar to maximise on one minibatch, written once for every network backend.

    An algorithm writes its loss as one of these (PPO's clipped surrogate, A2C's
    advantage-weighted log-likelihood); a network policy evaluates it with its own array
    module `xp` (PyTorch eagerly, JAX inside one compiled call) and steps its optimizer
    up its gradient. It must be hashable (a frozen dataclass): the JAX backend compiles
    once per objective and array shapes.
    """

    def __call__(
        self,
        xp: ArrayNamespace,
        log_probs: BackendArray,
        entropy: Callable[[], BackendArray],
        values: Callable[[], BackendArray],
        batch: Mapping[str, BackendArray],
        settings: Mapping[str, BackendArray],
    ) -> BackendArray:
        """The objective on one minibatch.

        Args:
          xp: the array module.
          log_probs: log π_θ(a_i|s_i) of the minibatch, differentiable, shape [S].
          entropy: H(π_θ(·|s_i)) per state, differentiable, shape [S] (computed on call).
          values: v̂(s_i) of the critic trained jointly with the policy, differentiable in
            its weights, shape [S] (computed on call; only when a critic is given to
            `maximize_minibatches`, else calling it raises).
          batch: the minibatch's rows of the samples given to `maximize_minibatches`,
            plus "weight" [S]: 1/(its number of samples), 0 for padding rows, so that
            `xp.sum(batch["weight"] * x)` is the minibatch mean of x.
          settings: scalars that may change between calls (a scheduled clip range).
        """
        ...


@runtime_checkable
class StopRule(Protocol, metaclass=RememberedProtocol):
    """After each epoch: whether to stop (PPO's target KL); hashable, as `Objective`."""

    def __call__(
        self,
        xp: ArrayNamespace,
        log_probs: BackendArray,
        samples: Mapping[str, BackendArray],
        settings: Mapping[str, BackendArray],
    ) -> BackendArray:
        """A boolean scalar, from log π_θ of all samples [M] and the samples (with
        "weight": 1/M per sample, 0 for padding)."""
        ...


@runtime_checkable
class Policy(Protocol, metaclass=RememberedProtocol):
    """What every algorithm may ask of a policy π(a|s, θ)."""

    @property
    def n_parameters(self) -> int: ...

    @property
    def noise_size(self) -> int:
        """Uniforms drawn per action."""
        ...

    def log_prob(self, obs: Observations, a: Actions) -> np.ndarray:
        """log π(a|s), shape [...]."""

    def score(self, obs: Observations, a: Actions) -> np.ndarray:
        """∇θ log π(a|s) as a flat vector, shape [..., P]."""

    def transform_noise(self, uniforms: np.ndarray) -> np.ndarray:
        """Uniforms in [0, 1) to the noise `sample_from_noise` takes (Gumbel, Gaussian)."""

    def sample_from_noise(self, obs: Observations, noise: np.ndarray) -> np.ndarray:
        """Actions for pre-drawn noise: the same noise gives the same actions."""

    def actor(self) -> Actor:
        """A lean per-episode actor with θ taken out once (see `policies.actor`)."""

    def weighted_score_sum(self, obs: Observations, a: Actions, weights: np.ndarray) -> np.ndarray:
        """Σ_i weights_i ∇θ log π(a_i|s_i), shape [P] (one backward pass for a network;
        closed-form scores, or only the active entries of sparse features, for a linear one)."""

    def mean_entropy_gradient(self, obs: Observations) -> np.ndarray:
        """∇θ of the mean entropy over `obs`, shape [P]."""

    def batch_actor(self) -> Actor:
        """An actor for a batch of states at once (one per sub-environment)."""

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of one observation the policy takes (() for a Discrete state)."""
        ...

    def get_flat(self) -> np.ndarray:
        """A copy of θ as the policy holds it: [P], or [R, P] with a run axis."""

    def set_flat(self, theta: Parameters) -> None:
        """Replace θ (the shape `get_flat` gives)."""

    def get_theta(self) -> np.ndarray:
        """A copy of θ with a run axis, shape [R, P] (R = 1 for one run)."""

    def set_theta(self, theta: np.ndarray) -> None:
        """Replace θ from an array of shape [R, P] (as `get_theta` gives)."""


@runtime_checkable
class DiscretePolicy(Policy, Protocol):
    """A policy over `n_actions` discrete actions."""

    @property
    def n_actions(self) -> int: ...

    def logits(self, obs: Observations) -> np.ndarray:
        """Action preferences h(s, ·), shape [..., A]; π = softmax(h)."""

    def probabilities(self, obs: Observations) -> np.ndarray:
        """π(·|s), shape [..., A]."""


@runtime_checkable
class GaussianPolicy(Policy, Protocol):
    """A Gaussian policy N(μ(s), σ(s)²) over Box actions of shape [action_dim]."""

    @property
    def action_dim(self) -> int: ...

    def mean(self, obs: Observations) -> np.ndarray:
        """μ(s), shape [..., action_dim]."""

    def log_std(self, obs: Observations) -> np.ndarray:
        """log σ(s), shape [..., action_dim]."""

    def deterministic_action(self, obs: Observations) -> np.ndarray:
        """The action greedy evaluation takes: μ(s), or its squashed image for a policy
        squashed into the action box, shape [..., action_dim]."""


@runtime_checkable
class HeldExploration(Protocol, metaclass=RememberedProtocol):
    """A policy whose noise a step collector holds for several steps (gSDE)."""

    @property
    def exploration_period(self) -> int | None:
        """Steps each draw of the noise is held for (0: a whole update); None: fresh
        noise every step."""
        ...


def exploration_period(policy: Policy) -> int | None:
    """How long a step collector holds `policy`'s noise (`HeldExploration`); None for a
    policy that draws fresh noise every step."""
    return policy.exploration_period if isinstance(policy, HeldExploration) else None


@runtime_checkable
class ArrayPolicy(Policy, Protocol):
    """θ is one NumPy array, [P] or [R, P], which algorithms may step in place."""

    theta: np.ndarray

    def ascend(self, obs: Observations, a: Actions, step: npt.ArrayLike) -> None:
        """θ ← θ + Σ step · ∇θ log π(a|s), each run's terms into its own row of θ."""


class Minibatches(NamedTuple):
    """Which samples each optimizer step of `maximize_minibatches` takes.

    `indices` [E, B, S]: for each of E epochs, B minibatches of at most S sample indices,
    padded with -1 (minibatches of unequal size, as `np.array_split` makes them).
    """

    indices: np.ndarray


def minibatch_plan(
    n_samples: int, epochs: int, minibatches: int, shuffle: np.random.Generator
) -> Minibatches:
    """E epochs of B minibatches: each epoch a fresh permutation of the samples split as
    `np.array_split` splits it, padded with -1 to one size."""
    # one permutation per epoch, drawn in order
    drawn = [shuffle.permutation(n_samples) for _ in range(epochs)]
    permutations = np.array(drawn, dtype=np.int64).reshape(epochs, n_samples)
    if minibatches == 1:
        return Minibatches(permutations[:, None, :])
    size = -(-n_samples // minibatches)
    indices = np.full((epochs, minibatches, size), -1, dtype=np.int64)
    # np.array_split's sections: the first n mod B take one sample more than the rest
    sizes = np.full(minibatches, n_samples // minibatches)
    sizes[: n_samples % minibatches] += 1
    rows = np.repeat(np.arange(minibatches), sizes)  # where each permuted position goes
    columns = np.arange(n_samples) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    indices[:, rows, columns] = permutations
    return Minibatches(indices)


class Ascent(NamedTuple):
    """How the optimizer steps of `maximize_minibatches` go."""

    learning_rate_scale: float = 1.0
    """Multiplies the policy's learning rate (a schedule)."""
    max_grad_norm: float | None = None
    """Clip each step's gradient to this global norm (None: no clipping)."""
    stop: StopRule | None = None
    """Checked after each epoch; True ends the epochs there."""


DEFAULT_ASCENT = Ascent()


@runtime_checkable
class NetworkPolicy(Policy, Protocol):
    """θ lives in a network (PyTorch or JAX) and is stepped by the policy's own optimizer."""

    def maximize_minibatches(
        self,
        objective: Objective,
        samples: Mapping[str, np.ndarray],
        plan: Minibatches,
        settings: Mapping[str, float],
        ascent: Ascent = DEFAULT_ASCENT,
        critic: ValueFunction | None = None,
    ) -> int:
        """Epochs of one optimizer step per minibatch up `objective`; returns the epochs run.

        Args:
          objective: the `Objective` to maximise on each minibatch.
          samples: "observations" [M, ...] and "actions" [M, ...] (for log π and H), and
            whatever else the objective reads, each with M rows.
          plan: the minibatches' sample indices.
          settings: the objective's scalars.
          ascent: learning-rate scale, gradient clipping, early stop.
          critic: a neural critic of the same backend to train jointly (one loss, one
            gradient-norm clip over both networks, each its own Adam and rate, both
            scaled by the schedule), as SB3's PPO does; None: the policy alone.
        """
        ...

    def optimizer_step(self, gradient: np.ndarray, learning_rate_scale: float = 1.0) -> None:
        """One optimizer step along an ascent direction [P], the learning rate scaled."""

    def optimizer_state(self) -> tuple[dict[str, np.ndarray], list[JSON]]:
        """The optimizer's arrays and settings, for a checkpoint."""

    def update_kept_finite(self, update: Callable[[], object]) -> bool:
        """Run `update` (which changes θ in place) unless it leaves θ not finite, in which
        case θ goes back; returns whether the update was kept."""

    def load_optimizer_state(self, arrays: dict[str, np.ndarray], groups: list[JSON]) -> None:
        """Put an `optimizer_state` back."""


@runtime_checkable
class TorchTrainedPolicy(NetworkPolicy, Protocol):
    """The PyTorch backend: torch tensors that carry gradients, for algorithms written on
    torch autodiff directly (neural REINFORCE)."""

    def maximize(
        self,
        objective: TorchTensor,
        learning_rate_scale: float = 1.0,
        max_grad_norm: float | None = None,
    ) -> None:
        """One optimizer step up the gradient of a scalar torch `objective`."""

    def torch_log_prob(self, obs: Observations, a: Actions) -> TorchTensor:
        """log π(a|s) as a torch tensor that carries gradients."""

    def torch_entropy(self, obs: Observations) -> TorchTensor:
        """H(π(·|s)) per state as a differentiable torch tensor, shape [...]."""


@runtime_checkable
class ValueFunction(Protocol, metaclass=RememberedProtocol):
    """A learned state value v̂(s, w) = wᵀx(s), w of shape [k] or [R, k]."""

    w: np.ndarray

    def value(self, obs: Observations) -> np.ndarray:
        """v̂(s, w), shape [...]."""

    def gradient(self, obs: Observations) -> np.ndarray:
        """∇w v̂(s, w) = x(s), shape [..., k]."""

    def ascend(self, obs: Observations, step: npt.ArrayLike) -> None:
        """w ← w + Σ step · x(s)."""

    def fit(self, obs: Observations, targets: np.ndarray, ridge: float) -> None:
        """w by ridge least squares of v̂(s, w) on `targets` [M] at states `obs` [M, ...]."""

    def get_flat(self) -> np.ndarray:
        """A copy of w."""

    def set_flat(self, w: Parameters) -> None:
        """Replace w."""

    def training_state(self) -> tuple[dict[str, np.ndarray], JSON]:
        """What its fitting carries beyond w (an optimiser, a shuffling stream), as arrays
        and JSON; ({}, {}) when nothing (a least-squares critic)."""

    def load_training_state(self, arrays: dict[str, np.ndarray], extra: JSON) -> None:
        """Put a `training_state` back, so fitting continues identically."""


@runtime_checkable
class ExactFisher(Protocol, metaclass=RememberedProtocol):
    """A policy that multiplies a vector by its Fisher information exactly (JAX networks:
    the Hessian-vector product of the mean KL by `jvp` of its gradient)."""

    def fisher_vector_product(self, obs: Observations, vector: np.ndarray) -> np.ndarray:
        """F v, F = mean_s E_{a~π(·|s)}[ψ(s,a) ψ(s,a)ᵀ] over the states `obs` [M, ...]:
        the Hessian at θ of mean_s KL(π_θ(·|s) ‖ π_θ'(·|s)) in θ', shape [P]."""
        ...


class RunMinibatches(NamedTuple):
    """What `maximize_minibatches` takes of one run when several runs' network updates
    are made at once: its policy, its samples, its minibatches and its critic trained
    jointly (or None)."""

    policy: NetworkPolicy
    samples: Mapping[str, np.ndarray]
    plan: Minibatches
    critic: ValueFunction | None = None


@runtime_checkable
class RunsTogether(NetworkPolicy, Protocol):
    """A network policy whose backend makes the updates of several runs one call (JAX:
    `vmap` over the runs' parameters and optimiser states)."""

    def maximize_minibatches_together(
        self,
        updates: Sequence[RunMinibatches],
        objective: Objective,
        settings: Mapping[str, float],
        ascent: Ascent = DEFAULT_ASCENT,
    ) -> list[int]:
        """`maximize_minibatches` of every run in `updates` (this policy among them, the
        others of its class and shape), in one call; returns each run's epochs."""
        ...


def maximize_minibatches_of_runs(
    updates: Sequence[RunMinibatches],
    objective: Objective,
    settings: Mapping[str, float],
    ascent: Ascent = DEFAULT_ASCENT,
) -> list[int]:
    """Each run's `maximize_minibatches` with the same objective, settings and ascent: in
    one call where the backend offers it (`RunsTogether`), else one run after another.
    Either way run k ends where its own call would have taken it."""
    first = updates[0].policy
    if isinstance(first, RunsTogether) and len(updates) > 1:
        return first.maximize_minibatches_together(updates, objective, settings, ascent)
    return [
        update.policy.maximize_minibatches(
            objective, update.samples, update.plan, settings, ascent, update.critic
        )
        for update in updates
    ]


@runtime_checkable
class NetworkValueFunction(ValueFunction, Protocol):
    """A critic that is a network stepped by its own optimizer: one a `NetworkPolicy` of
    the same backend can train jointly (`maximize_minibatches(..., critic=...)`)."""

    def optimizer_state(self) -> tuple[dict[str, np.ndarray], list[JSON]]:
        """The optimizer's arrays and settings, for a checkpoint."""

    def load_optimizer_state(self, arrays: dict[str, np.ndarray], groups: list[JSON]) -> None:
        """Put an `optimizer_state` back."""


class RunAxisParameters:
    """`get_theta` / `set_theta` for policies whose `get_flat` is [P] or [R, P]."""

    def get_theta(self) -> np.ndarray:
        """A copy of θ with a run axis, shape [R, P] (R = 1 for one run)."""
        flat: np.ndarray = self.get_flat()  # type: ignore[attr-defined]
        return np.atleast_2d(flat).copy()

    def set_theta(self, theta: np.ndarray) -> None:
        """Replace θ from [R, P]; a policy that holds one run ([P]) takes R = 1."""
        theta = np.asarray(theta, dtype=np.float64)
        current = np.shape(self.get_flat())  # type: ignore[attr-defined]
        if theta.ndim != 2 or theta.shape[-1] != current[-1]:
            raise ValueError(
                f"`theta` must have shape [R, P] with P={current[-1]}; got {theta.shape}"
            )
        if len(current) == 1:
            if theta.shape[0] != 1:
                raise ValueError(
                    f"`theta` must have one run (the policy learns one); got {theta.shape[0]}"
                )
            theta = theta[0]
        self.set_flat(theta)  # type: ignore[attr-defined]


Model = TypeVar("Model", ArrayPolicy, ValueFunction)


def with_run_axis(model: Model, n_runs: int, memo: dict[int, object] | None = None) -> Model:
    """A deep copy of an array policy or value function with parameters of shape [R, P].

    Parameters without a run axis are repeated for every run; with one, it must have
    `n_runs` rows. Copies made with the same `memo` keep what their originals shared
    (a policy and a critic over the same feature builder still share one).
    """
    duplicate = copy.deepcopy(model, memo)
    parameters = np.asarray(duplicate.get_flat(), dtype=np.float64)
    if parameters.ndim == 1:
        parameters = np.tile(parameters, (n_runs, 1))
    elif parameters.shape[0] != n_runs:
        raise ValueError(
            f"the parameters of the given {type(model).__name__} have {parameters.shape[0]} "
            f"runs; `runs` asks for {n_runs}"
        )
    duplicate.set_flat(parameters)
    return duplicate


def of_run(policy: Policy, run: int) -> Policy:
    """A copy of `policy` that acts as run `run` of its θ [R, P] (θ of shape [P] there)."""
    theta = policy.get_theta()
    if not 0 <= run < theta.shape[0]:
        raise IndexError(f"`run` must be in [0, {theta.shape[0]}); got {run}")
    single = copy.deepcopy(policy)
    single.set_flat(theta[run] if np.ndim(policy.get_flat()) == 2 else theta[0])
    return single
