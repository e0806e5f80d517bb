"""The settings every on-policy algorithm shares: how experience is collected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from gradlogpi.algorithms.common import Schedule, step_size
from gradlogpi.core._checks import check_in_range, check_positive, check_positive_int
from gradlogpi.policies import NetworkPolicy, NetworkValueFunction, Policy, ValueFunction

VectorizationMode = Literal["sync", "async", "vector_entry_point", "envpool"]
Collection = Literal["steps", "episodes", "ray"]


@dataclass(frozen=True)
class CollectionConfig:
    """How the on-policy loop collects each update's experience (every on-policy algorithm)."""

    n_updates: int = 50
    """Policy updates."""
    collection: Collection = "steps"
    """'steps': every sub-env takes `steps_per_env` steps per update and runs on across
    updates (episodes may straddle updates); 'episodes': `episodes_per_update` whole
    episodes, each with its own seeds; 'ray': 'steps' with the sub-envs split over
    `rollout_workers` Ray actors (extra gradlogpi[ray]; the same batch as 'steps')."""
    num_envs: int = 8
    """Sub-environments of the vector env (over all workers)."""
    steps_per_env: int = 256
    """Steps each sub-environment takes per update ('steps', 'ray')."""
    episodes_per_update: int = 16
    """Episodes per update ('episodes'; rounded up to a multiple of num_envs)."""
    vectorization_mode: VectorizationMode = "sync"
    """Gymnasium vectorisation: 'sync' (one process), 'async' (one process per env), or with
    collection='steps' also 'vector_entry_point' (the env's own vectorised code, if any;
    CartPole's stepped in one compiled call where Numba is, bit for bit the same) or
    'envpool' (EnvPool's C++ envs, extra gradlogpi[envpool])."""
    rollout_workers: int = 1
    """Workers splitting the `num_envs` sub-environments ('episodes', 'ray'); the same
    batch for any count."""
    rollout_backend: Literal["local", "ray"] = "local"
    """Where 'episodes' workers run: 'local' (in this process) or 'ray' (Ray actors)."""
    ray_address: str | None = None
    """Ray cluster address for Ray workers (default: RAY_ADDRESS, else a local Ray)."""
    gamma: float = 0.99
    """Discount γ in [0, 1]."""
    schedule: Schedule = "constant"
    """Schedule over updates of the step size (PPO: also ε; TRPO and natural updates: the
    KL bound; neural policies: their learning rate): constant, linear (to 0), inverse_sqrt."""
    max_episode_steps: int | None = None
    """Step cap of the training episodes (a cut episode is truncated: a critic bootstraps
    there); default the environment's registered cap. Evaluations keep the environment's."""
    normalize_observations: bool = False
    """Standardise what the policy and critic see by running statistics of the
    observations, as SB3's VecNormalize (collection='steps'; kept in checkpoints, frozen
    for evaluation)."""
    normalize_rewards: bool = False
    """Scale the rewards learned from by the running standard deviation of the discounted
    return (collection='steps'); episode returns are reported unscaled."""
    normalization_clip: float = 10.0
    """Bound of a normalised observation or scaled reward (> 0)."""
    clip_actions: bool = True
    """Send Box actions clipped to the action space's bounds, learning from the sampled
    (unclipped) action's log-probability, as SB3 (collection='steps')."""

    def __post_init__(self) -> None:
        step_size(1.0, self.schedule, 0, 1)
        check_positive("normalization_clip", self.normalization_clip)
        if (self.normalize_observations or self.normalize_rewards) and self.collection != "steps":
            raise ValueError(
                "`normalize_observations` and `normalize_rewards` need collection='steps' "
                "(one vector env whose statistics the run keeps); got "
                f"collection={self.collection!r}"
            )
        for name in (
            "n_updates",
            "num_envs",
            "steps_per_env",
            "episodes_per_update",
            "rollout_workers",
        ):
            check_positive_int(name, getattr(self, name))
        check_in_range("gamma", self.gamma, 0.0, 1.0)
        for name, value, allowed in (
            ("collection", self.collection, ("steps", "episodes", "ray")),
            ("vectorization_mode", self.vectorization_mode, ("sync", "async", "vector_entry_point", "envpool")),
            ("rollout_backend", self.rollout_backend, ("local", "ray")),
        ):  # fmt: skip
            if value not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}; got {value!r}")
        if self.collection != "steps" and self.vectorization_mode not in ("sync", "async"):
            raise ValueError(
                f"`vectorization_mode` {self.vectorization_mode!r} needs collection='steps' "
                "(whole episodes and Ray workers need sub-envs we can seed one by one); "
                f"got collection={self.collection!r}"
            )
        if self.collection == "steps" and (
            self.rollout_workers != 1 or self.rollout_backend != "local"
        ):
            raise ValueError(
                "`collection` must be 'ray' to split step collection over workers (or "
                "'episodes' for episode workers); got collection='steps' with "
                f"rollout_workers={self.rollout_workers}, rollout_backend={self.rollout_backend!r}"
            )
        if self.num_envs % self.rollout_workers:
            raise ValueError(
                f"`num_envs` must be a multiple of `rollout_workers`={self.rollout_workers}; "
                f"got {self.num_envs}"
            )
        if self.max_episode_steps is not None:
            check_positive_int("max_episode_steps", self.max_episode_steps)


@dataclass(frozen=True)
class ActorCriticFamilyConfig(CollectionConfig):
    """Settings PPO, TRPO and A2C share: GAE(λ) advantages and the critic."""

    gae_lambda: float = 0.95
    """λ of GAE(λ) in [0, 1]: 0 one-step TD errors, 1 Monte-Carlo returns."""
    normalize_advantages: bool = True
    """Standardise the advantages (per minibatch in PPO, per update in TRPO and A2C)."""
    value_ridge: float = 1e-3
    """Ridge of a linear critic's least-squares refit to the λ-returns (> 0). A neural
    critic has its own L2 penalty, `value.weight_decay` (0 by default, as SB3's)."""
    value_fitting: Literal["auto", "joint", "separate"] = "auto"
    """How a neural critic learns (PPO, A2C; TRPO always fits separately). 'joint' (SB3's):
    in the policy's minibatches, one loss (PPO: L_clip + β H − c_v L_V), one gradient-norm
    clip over both networks, both rates on the schedule. 'separate': after the policy's epochs, its own fit (`value.epochs`,
    `value.minibatches`, `value.clip_range`). 'auto': joint when policy and critic are
    both networks, else separate; a linear critic always fits by least squares. On
    CartPole (seeds 0-9, docs/ppo-vs-sb3.md) joint reached 475 in a median 21k steps,
    separate in 32k; both solved 10/10."""
    value_coefficient: float = 0.5
    """c_v of the joint loss (SB3's vf_coef): L_V = mean (v̂ − G)²."""
    value_clip_range: float | None = None
    """Joint fitting: value clipping as PPO's (SB3's clip_range_vf); None: off."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_in_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_positive("value_ridge", self.value_ridge)
        if self.value_fitting not in ("auto", "joint", "separate"):
            raise ValueError(
                f"`value_fitting` must be 'auto', 'joint' or 'separate'; got {self.value_fitting!r}"
            )
        check_positive("value_coefficient", self.value_coefficient)
        if self.value_clip_range is not None:
            check_positive("value_clip_range", self.value_clip_range)

    def fits_jointly(self, policy: Policy, critic: ValueFunction | None) -> bool:
        """Whether this update trains the critic in the policy's loss: 'joint', or 'auto'
        with a network policy and a network critic; ValueError for 'joint' without them."""
        networks = isinstance(policy, NetworkPolicy) and isinstance(critic, NetworkValueFunction)
        if self.value_fitting == "joint" and not networks:
            raise ValueError(
                "`value_fitting` = 'joint' needs a neural policy and a neural critic; got "
                f"{type(policy).__name__} and {type(critic).__name__}"
            )
        return networks and self.value_fitting != "separate"

    def joint_value_inputs(
        self, critic: ValueFunction, observations: np.ndarray, returns: np.ndarray
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """The samples and settings a jointly trained critic's loss reads (see
        `gradients.value_loss`): the targets, v̂ at the update's start where values are
        clipped; c_v and the clip range."""
        samples = {"returns": returns}
        if self.value_clip_range is not None:
            samples["old_values"] = critic.value(observations)
        settings = {
            "value_coefficient": self.value_coefficient,
            "value_clip_range": self.value_clip_range or 0.0,
        }
        return samples, settings


OnPolicyConfig = ActorCriticFamilyConfig
"""The name PPO's and TRPO's shared settings had before A2C joined them."""
