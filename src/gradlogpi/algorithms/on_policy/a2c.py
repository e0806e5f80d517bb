"""A2C (Mnih et al. 2016, synchronous form): one policy-gradient step per short rollout.

Each update takes `steps_per_env` steps in every sub-environment (5 by default, as SB3's
A2C), computes GAE(λ) advantages with the critic (λ = 1: n-step returns minus v̂), and
ascends

    g = mean_i A_i ∇ln π(a_i|s_i) + β ∇ mean_i H(π(·|s_i))

once: θ ← θ + α g for a linear policy (the exact score), one optimiser step on the same
objective for a neural one (autodiff). Then the critic is refitted to the returns; a
neural critic of a neural policy instead steps in the same loss, − c_v mean (v̂ − G)²
(`value_fitting = "auto"`, SB3's A2C). The gradient is clipped to `max_grad_norm` first,
as SB3 does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from gradlogpi.algorithms.common import Callback, Inputs, RunResult
from gradlogpi.algorithms.on_policy.advantages import rollout
from gradlogpi.algorithms.on_policy.config import OnPolicyConfig
from gradlogpi.algorithms.on_policy.gradients import clip_norm, minus_value_loss
from gradlogpi.algorithms.on_policy.loop import (
    NetworkUpdate,
    RunBatch,
    UpdateState,
    network_updates,
    train_on_policy,
)
from gradlogpi.core._checks import check_positive
from gradlogpi.core.returns import normalized
from gradlogpi.policies import NetworkPolicy, Policy, ValueFunction
from gradlogpi.policies.contract import (
    ArrayNamespace,
    Ascent,
    BackendArray,
    Minibatches,
    RunMinibatches,
)
from gradlogpi.rollouts.vector import FragmentBatch


@dataclass(frozen=True)
class A2CConfig(OnPolicyConfig):
    """Settings of `a2c`; the defaults are SB3's A2C (n_steps 5, λ = 1, no normalisation,
    gradient norm 0.5)."""

    n_updates: int = 1000
    """Policy updates; each collects num_envs × steps_per_env environment steps."""
    steps_per_env: int = 5
    """Steps each sub-environment takes per update."""
    gae_lambda: float = 1.0
    """λ of GAE(λ): 1 gives the n-step return minus v̂ (A2C's advantage)."""
    normalize_advantages: bool = False
    """Standardise the advantages over the update."""
    alpha_theta: float = 7e-4
    """Step size of a linear policy's θ (a neural policy uses its optimizer's rate)."""
    entropy_coefficient: float = 0.0
    """β of the entropy bonus β·E[H(π(·|s))] (>= 0)."""
    max_grad_norm: float | None = 0.5
    """Clip the policy gradient to this norm (None: no clipping)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("alpha_theta", self.alpha_theta)
        check_positive("entropy_coefficient", self.entropy_coefficient, allow_zero=True)
        if self.max_grad_norm is not None:
            check_positive("max_grad_norm", self.max_grad_norm)


def improve(
    policy: Policy,
    critic: ValueFunction | None,
    batch: FragmentBatch,
    state: UpdateState[A2CConfig],
) -> dict[str, float]:
    """One A2C update; see the module docstring."""
    if isinstance(policy, NetworkPolicy):  # one optimizer step in the policy's backend
        return improve_together([RunBatch(policy, critic, batch, state)])[0]
    config = state.config
    assert critic is not None  # the loop refuses A2C without one
    data = rollout(batch, policy, critic, config.gamma, config.gae_lambda)
    advantages = normalized(data.advantages) if config.normalize_advantages else data.advantages
    states, actions = data.observations, data.actions
    gradient = policy.weighted_score_sum(states, actions, advantages / advantages.size)
    if config.entropy_coefficient > 0:
        gradient = gradient + config.entropy_coefficient * policy.mean_entropy_gradient(states)
    gradient = clip_norm(gradient, config.max_grad_norm)
    policy.set_flat(policy.get_flat() + config.alpha_theta * state.fraction * gradient)
    critic.fit(states, data.returns, config.value_ridge)  # v̂ ≈ the returns
    return {"mean_advantage": float(advantages.mean())}


def improve_together(runs: Sequence[RunBatch]) -> list[dict[str, float]]:
    """`improve` of several runs at one update: each its own returns and advantages; the
    optimizer steps of network policies for all runs in one call where the backend can,
    linear policies run by run."""
    return network_updates(improve, prepare_step, runs)


def prepare_step(run: RunBatch) -> NetworkUpdate:
    """One run's A2C step of a network policy, ready to run (see `NetworkUpdate`): all
    samples as one minibatch, the advantage-weighted objective (with the critic's loss
    when it trains jointly), the ascent."""
    policy, critic, state = run.policy, run.critic, run.state
    config: A2CConfig = state.config
    assert isinstance(policy, NetworkPolicy) and critic is not None
    data = rollout(run.batch, policy, critic, config.gamma, config.gae_lambda)
    advantages = normalized(data.advantages) if config.normalize_advantages else data.advantages
    joint = config.fits_jointly(policy, critic)
    samples = {"observations": data.observations, "actions": data.actions, "advantages": advantages}
    settings = {"entropy_coefficient": config.entropy_coefficient}
    if joint:
        joint_samples, joint_settings = config.joint_value_inputs(
            critic, data.observations, data.returns
        )
        samples.update(joint_samples)
        settings.update(joint_settings)
    objective = AdvantageWeighted(
        config.entropy_coefficient > 0, joint, joint and config.value_clip_range is not None
    )

    def finish(epochs: int) -> dict[str, float]:
        if not joint:
            critic.fit(data.observations, data.returns, config.value_ridge)  # v̂ ≈ the returns
        return {"mean_advantage": float(advantages.mean())}

    return NetworkUpdate(
        RunMinibatches(
            policy,
            samples,
            Minibatches(np.arange(advantages.size)[None, None, :]),
            critic if joint else None,
        ),
        objective,
        settings,
        Ascent(state.fraction, config.max_grad_norm),
        finish,
    )


@dataclass(frozen=True)
class AdvantageWeighted:
    """A2C's objective for network policies (any backend, see `Objective`):
    mean_i A_i ln π(a_i|s_i) + β mean_i H(π(·|s_i)) (− c_v mean (v̂ − G)² when the critic
    trains jointly, as SB3's A2C)."""

    with_entropy: bool
    with_value: bool = False
    clip_values: bool = False

    def __call__(
        self,
        xp: ArrayNamespace,
        log_probs: BackendArray,
        entropy: Callable[[], BackendArray],
        values: Callable[[], BackendArray],
        batch: Mapping[str, BackendArray],
        settings: Mapping[str, BackendArray],
    ) -> BackendArray:
        weight = batch["weight"]
        objective = xp.sum(weight * log_probs * batch["advantages"])
        if self.with_entropy:
            objective = objective + settings["entropy_coefficient"] * xp.sum(weight * entropy())
        if self.with_value:
            objective = minus_value_loss(xp, objective, values, batch, settings, self.clip_values)
        return objective


def a2c(
    env: str | gym.Env,
    policy: Policy,
    config: A2CConfig = A2CConfig(),
    *,
    value: ValueFunction | None = None,
    seed: int | None = None,
    runs: Any = None,
    callback: Callback | None = None,
    resume: dict[str, Any] | None = None,
) -> RunResult:
    """Learn a policy by synchronous advantage actor-critic (A2C).

        Loop for each update:
            Collect num_envs × steps_per_env steps with π_θ (episodes run on)
            A ← GAE(λ) with v̂;  targets ← A + v̂
            g ← mean A ∇ln π(a|s) + β ∇H,  clipped to max_grad_norm
            θ ← θ + α g                              (neural: one optimizer step)
            Refit v̂ to the targets                   (neural, joint: in that same step)

    Args:
      env: a registered Gymnasium id, or an environment made from one.
      policy: a linear policy (softmax or Gaussian) or a neural one; not modified.
      config: `A2CConfig`.
      value: the critic, a `LinearValue` or a `NeuralValue`; required.
      seed: the experiment seed (sub-environment seeds and action noise derive from it).
      runs: None or 1: one run; R: R runs learned together, update by update, run k
        from copies of `policy` and `value` with seed spawn k of `seed`; or a list of
        `RunStart` (each run's seed, policy and critic). Callbacks then name the run.
      callback: called with an `EpisodeEnd` after every update; raising `StopTraining`
        ends learning there.
      resume: a snapshot from a callback's `EpisodeEnd.snapshot()`: continue after its update.

    Returns:
      RunResult with one row; its columns are the finished episodes in order.
    """
    inputs = Inputs(env, policy, config, value, seed, runs, callback, resume)
    return train_on_policy(
        "a2c", improve, inputs, needs_critic=True, improve_together=improve_together
    )
