"""The book's algorithms: Sutton & Barto (2018), chapter 13, one module each.

Each is a loop a reader can follow beside its pseudocode, learning from whole episodes
and R runs in lockstep (θ [R, P]): REINFORCE (p. 328), REINFORCE with baseline (p. 330)
and the episodic actor-critic, one-step or with eligibility traces (p. 332), for policies
whose θ is an array; `neural_reinforce`, REINFORCE for neural policies by autodiff of
J = Σ_t log π(A_t|S_t) G_t; and `vector_runs`, many REINFORCE runs stepped through a
task's native vector environment. Their per-step arithmetic has compiled twins in
`gradlogpi.algorithms.compiled`; the batch family (batch PG, A2C, PPO, TRPO) is
`gradlogpi.algorithms.on_policy`.
"""

from gradlogpi.algorithms.book.actor_critic import ActorCriticConfig, actor_critic
from gradlogpi.algorithms.book.neural_reinforce import NeuralReinforceConfig, neural_reinforce
from gradlogpi.algorithms.book.reinforce import ReinforceConfig, reinforce
from gradlogpi.algorithms.book.reinforce_baseline import ReinforceBaselineConfig, reinforce_baseline

__all__ = [
    "ActorCriticConfig",
    "NeuralReinforceConfig",
    "ReinforceBaselineConfig",
    "ReinforceConfig",
    "actor_critic",
    "neural_reinforce",
    "reinforce",
    "reinforce_baseline",
]
