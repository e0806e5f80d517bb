"""The registry: every algorithm by name, with its config and what it needs.

`runs/`, `cli/` and `experiments/` read this table instead of switching on algorithm
names. Adding an algorithm is its module, one `register(...)` line below and its tests.

Every algorithm has one signature:

    algorithm(env, policy, config, *, value=None, seed=None, runs=None, callback=None,
              resume=None) -> RunResult
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import gymnasium as gym

from gradlogpi.algorithms.book import (
    ActorCriticConfig,
    NeuralReinforceConfig,
    ReinforceBaselineConfig,
    ReinforceConfig,
    actor_critic,
    neural_reinforce,
    reinforce,
    reinforce_baseline,
)
from gradlogpi.algorithms.common import Callback, RunResult
from gradlogpi.algorithms.on_policy import (
    A2CConfig,
    BatchPolicyGradientConfig,
    PPOConfig,
    TRPOConfig,
    a2c,
    batch_policy_gradient,
    ppo,
    trpo,
)
from gradlogpi.policies import Policy, ValueFunction


class Algorithm(Protocol):
    """The one signature every algorithm has."""

    def __call__(
        self,
        env: str | gym.Env,
        policy: Policy,
        config: Any,
        *,
        value: ValueFunction | None = None,
        seed: int | None = None,
        runs: Any = None,
        callback: Callback | None = None,
        resume: dict[str, Any] | None = None,
    ) -> RunResult: ...


def _never(config: Any) -> bool:
    return False


def _always(config: Any) -> bool:
    return True


def _resumable(config: Any) -> str | None:
    return None


@dataclass(frozen=True)
class AlgorithmSpec:
    """One registered algorithm.

    Attributes:
      name: the name configs and the CLI use.
      learn: the algorithm function.
      config_class: its frozen dataclass of hyperparameters.
      summary: one line for listings.
      policies: which policies it learns: 'array' (linear softmax, matrix softmax, linear
        Gaussian: θ a NumPy array) and/or 'torch' (neural policies).
      lockstep_runs: it learns R runs at once through `runs`; otherwise R runs are learned
        one after another, each with its own initial policy.
      unit: what one progress step is: 'episodes' (of all runs at once) or 'updates'.
      total: the number of progress units a config asks for.
      needs_value: whether a config needs a value function (critic or baseline).
      not_resumable: why a config cannot be resumed from a checkpoint, or None.
      vector_envs: it makes vector envs from the environment's id (no env_kwargs).
      critics: the value functions it can learn: 'linear' (`LinearValue`, stepped per step
        or refitted) and/or 'neural' (`NeuralValue`, only refitted by regression).
      together: it learns R runs with their own initial policies update by update in one
        call (`runs` = a list of `RunStart`; neural updates of all runs one compiled
        call on JAX), for the collections this says yes to.
    """

    name: str
    learn: Algorithm
    config_class: type
    summary: str
    policies: tuple[Literal["array", "torch"], ...]
    lockstep_runs: bool
    unit: Literal["episodes", "updates"] = "episodes"
    total: Callable[[Any], int] = lambda config: int(config.n_episodes)
    needs_value: Callable[[Any], bool] = _never
    not_resumable: Callable[[Any], str | None] = _resumable
    vector_envs: bool = False
    critics: tuple[Literal["linear", "neural"], ...] = ("linear",)
    together: Callable[[Any], bool] = _never

    def learns_together(self, config: Any) -> bool:
        """Whether R runs of `config` are learned together (else one after another)."""
        return self.together(config)

    def hyperparameters(self) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, docstring) of every config field."""
        docs = field_docstrings(self.config_class)
        return [
            (field.name, str(field.type), field.default, docs.get(field.name, ""))
            for field in dataclasses.fields(self.config_class)
        ]


ALGORITHMS: dict[str, AlgorithmSpec] = {}


def register(spec: AlgorithmSpec) -> AlgorithmSpec:
    """Add `spec` to the registry (names are unique)."""
    if spec.name in ALGORITHMS:
        raise ValueError(f"`name` {spec.name!r} is already registered")
    ALGORITHMS[spec.name] = spec
    return spec


def get(name: str) -> AlgorithmSpec:
    """The registered algorithm called `name`; ValueError listing the names otherwise."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"`algorithm` must be one of {sorted(ALGORITHMS)}; got {name!r}") from None


def field_docstrings(config_class: type) -> dict[str, str]:
    """The docstring under each field of a dataclass and its bases (read from their source)."""
    docs: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        if klass is object:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        statements = getattr(body, "body", [])
        for statement, following in itertools.pairwise(statements):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


register(
    AlgorithmSpec(
        "reinforce",
        reinforce,
        ReinforceConfig,
        "REINFORCE, the book's per-step Monte-Carlo policy gradient (p. 328)",
        policies=("array",),
        lockstep_runs=True,
    )
)
register(
    AlgorithmSpec(
        "reinforce_baseline",
        reinforce_baseline,
        ReinforceBaselineConfig,
        "REINFORCE with a learned baseline v̂(s, w) (p. 330)",
        policies=("array",),
        lockstep_runs=True,
        needs_value=_always,
    )
)
register(
    AlgorithmSpec(
        "actor_critic",
        actor_critic,
        ActorCriticConfig,
        "episodic actor-critic, one-step or with eligibility traces (p. 332)",
        policies=("array",),
        lockstep_runs=True,
        needs_value=_always,
    )
)
register(
    AlgorithmSpec(
        "neural_reinforce",
        neural_reinforce,
        NeuralReinforceConfig,
        "REINFORCE for neural policies by autodiff, one optimizer step per episode",
        policies=("torch",),
        lockstep_runs=False,
    )
)


def on_policy_spec(
    name: str,
    learn: Algorithm,
    config_class: type,
    summary: str,
    needs_value: Callable[[Any], bool] = _always,
) -> AlgorithmSpec:
    """The on-policy family: one loop over a collector on vector envs, progress by updates,
    linear or neural policies and critics, resumable with every collection."""
    return AlgorithmSpec(
        name,
        learn,
        config_class,
        summary,
        policies=("array", "torch"),
        lockstep_runs=False,
        unit="updates",
        total=lambda config: int(config.n_updates),
        needs_value=needs_value,
        vector_envs=True,
        critics=("linear", "neural"),
        together=_not_on_ray,
    )


def _not_on_ray(config: Any) -> bool:
    """Runs together, except on Ray (each run's own workers: R sets at once)."""
    return bool(config.collection != "ray")


register(
    on_policy_spec(
        "batch_pg",
        batch_policy_gradient,
        BatchPolicyGradientConfig,
        "batch policy gradient on vector envs: REINFORCE/GPOMDP, baselines, natural, eNAC",
        needs_value=lambda config: config.baseline == "value",
    )
)
register(
    on_policy_spec(
        "a2c",
        a2c,
        A2CConfig,
        "A2C: one policy-gradient step per short rollout of every sub-env, GAE(λ) advantages",
    )
)
register(
    on_policy_spec(
        "ppo",
        ppo,
        PPOConfig,
        "PPO-clip with GAE(λ) and a linear or neural critic; closed-form surrogate gradient for "
        "linear policies",
    )
)
register(
    on_policy_spec(
        "trpo",
        trpo,
        TRPOConfig,
        "TRPO: a KL-bounded natural step by conjugate gradient on closed-form (or autodiff) "
        "Fisher products, GAE(λ) advantages",
    )
)
