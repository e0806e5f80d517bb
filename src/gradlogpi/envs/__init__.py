"""Environments gradlogpi ships, registered with Gymnasium under the `gradlogpi/` namespace."""

import gymnasium as gym

from gradlogpi.envs.acrobot import AcrobotVectorEnv
from gradlogpi.envs.grid_world import BorderFeatures, GridWorldEnv
from gradlogpi.envs.lqr import LQREnv, riccati_gain
from gradlogpi.envs.short_corridor import (
    OPTIMAL_P_RIGHT,
    OPTIMAL_VALUE,
    ShortCorridorEnv,
    short_corridor_features,
    short_corridor_value,
    theta_for_p_right,
)
from gradlogpi.envs.snapshots import (
    env_snapshot,
    register_snapshot,
    restore_env,
    restore_vector_env,
    vector_env_snapshot,
)

SHIPPED = {
    "gradlogpi/ShortCorridor-v0": ("gradlogpi.envs.short_corridor:ShortCorridorEnv", 1000),
    "gradlogpi/GridWorld-v0": ("gradlogpi.envs.grid_world:GridWorldEnv", 200),
    "gradlogpi/LQR-v0": ("gradlogpi.envs.lqr:LQREnv", 50),
}

for _env_id, (_entry_point, _cap) in SHIPPED.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry_point, max_episode_steps=_cap)

__all__ = [
    "OPTIMAL_P_RIGHT",
    "OPTIMAL_VALUE",
    "SHIPPED",
    "AcrobotVectorEnv",
    "BorderFeatures",
    "GridWorldEnv",
    "LQREnv",
    "ShortCorridorEnv",
    "env_snapshot",
    "register_snapshot",
    "restore_env",
    "restore_vector_env",
    "riccati_gain",
    "short_corridor_features",
    "short_corridor_value",
    "theta_for_p_right",
    "vector_env_snapshot",
]
