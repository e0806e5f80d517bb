"""How experience is collected, below the algorithms that learn from it.

- `episodes`: R independent runs of one environment in lockstep, one episode at a time,
  each run with its own random streams (`Runs`, `generate_episode`, `evaluate_policy`).
- `vector`: Gymnasium vector environments: whole episodes with per-episode seeds
  (`collect_episodes`) and step fragments that run on across updates (`StepCollector`).
- `distributed`: rollout workers splitting the sub-environments, local or Ray actors.
"""

from gradlogpi.rollouts.episodes import (
    EpisodeBatch,
    Runs,
    RunStreams,
    evaluate_policy,
    generate_episode,
    make_env,
)

__all__ = [
    "EpisodeBatch",
    "RunStreams",
    "Runs",
    "evaluate_policy",
    "generate_episode",
    "make_env",
]
