"""Policy-gradient algorithms, each a loop that reads like the book's pseudocode.

All have one signature, `algorithm(env, policy, config, *, value, seed, runs, callback,
resume) -> RunResult`, and `registry.ALGORITHMS` names each with its config.
"""

from gradlogpi.algorithms.actor_critic import ActorCriticConfig, actor_critic
from gradlogpi.algorithms.batch_pg import BatchPolicyGradientConfig, batch_policy_gradient
from gradlogpi.algorithms.common import EpisodeEnd, RunResult, StopTraining, step_size
from gradlogpi.algorithms.neural_reinforce import NeuralReinforceConfig, neural_reinforce
from gradlogpi.algorithms.ppo import PPOConfig, ppo
from gradlogpi.algorithms.registry import ALGORITHMS, AlgorithmSpec
from gradlogpi.algorithms.reinforce import ReinforceConfig, reinforce
from gradlogpi.algorithms.reinforce_baseline import ReinforceBaselineConfig, reinforce_baseline
from gradlogpi.algorithms.trpo import TRPOConfig, trpo

__all__ = [
    "ALGORITHMS",
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
    "actor_critic",
    "batch_policy_gradient",
    "neural_reinforce",
    "ppo",
    "reinforce",
    "reinforce_baseline",
    "step_size",
    "trpo",
]
