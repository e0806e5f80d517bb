"""Policy-gradient algorithms, each a loop that reads like the book's pseudocode.

All have one signature, `algorithm(env, policy, config, *, value, seed, runs, callback,
resume) -> RunResult`, and `registry.ALGORITHMS` names each with its config.
"""

from gradlogpi.algorithms.actor_critic import ActorCriticConfig, actor_critic
from gradlogpi.algorithms.common import EpisodeEnd, RunResult, StopTraining, step_size
from gradlogpi.algorithms.neural_reinforce import NeuralReinforceConfig, neural_reinforce
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
from gradlogpi.algorithms.registry import ALGORITHMS, AlgorithmSpec
from gradlogpi.algorithms.reinforce import ReinforceConfig, reinforce
from gradlogpi.algorithms.reinforce_baseline import ReinforceBaselineConfig, reinforce_baseline

__all__ = [
    "ALGORITHMS",
    "A2CConfig",
    "ActorCriticConfig",
    "AlgorithmSpec",
    "BatchPolicyGradientConfig",
    "EpisodeEnd",
    "NeuralReinforceConfig",
    "PPOConfig",
    "ReinforceBaselineConfig",
    "ReinforceConfig",
    "RunResult",
    "StopTraining",
    "TRPOConfig",
    "a2c",
    "actor_critic",
    "batch_policy_gradient",
    "neural_reinforce",
    "ppo",
    "reinforce",
    "reinforce_baseline",
    "step_size",
    "trpo",
]
