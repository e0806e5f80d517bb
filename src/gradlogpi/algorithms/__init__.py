"""Policy-gradient algorithms, in two families with one signature and one registry.

- `book`: the book's algorithms (Sutton & Barto 2018, ch. 13), each a loop that reads like
  its pseudocode: REINFORCE, with baseline, actor-critic, neural REINFORCE, and many
  REINFORCE runs in one native vector env;
- `on_policy`: batch policy gradient, A2C, PPO and TRPO, each an `improve` called by one
  loop over a collector.

Beside them: `compiled` (Numba twins of the book's per-step arithmetic), `estimators`
(the batch gradient estimators and Fisher products batch_pg and TRPO share) and `common`
(results, statistics, snapshots, the lockstep set-up). All have one signature,
`algorithm(env, policy, config, *, value, seed, runs, callback, resume) -> RunResult`,
and `registry.ALGORITHMS` names each with its config.
"""

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
from gradlogpi.algorithms.common import EpisodeEnd, RunResult, StopTraining, step_size
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
