"""Policy-gradient algorithms, each a loop that reads like the book's pseudocode."""

from gradlogpi.algorithms.actor_critic import ActorCriticConfig, actor_critic
from gradlogpi.algorithms.common import EpisodeEnd, RunResult, StopTraining, step_size
from gradlogpi.algorithms.reinforce import ReinforceConfig, reinforce
from gradlogpi.algorithms.reinforce_baseline import ReinforceBaselineConfig, reinforce_baseline
from gradlogpi.algorithms.rollout import EpisodeBatch, Runs, RunStreams, generate_episode, make_env

__all__ = [
    "ActorCriticConfig",
    "EpisodeBatch",
    "EpisodeEnd",
    "ReinforceBaselineConfig",
    "ReinforceConfig",
    "RunResult",
    "RunStreams",
    "Runs",
    "StopTraining",
    "actor_critic",
    "generate_episode",
    "make_env",
    "reinforce",
    "reinforce_baseline",
    "step_size",
]
