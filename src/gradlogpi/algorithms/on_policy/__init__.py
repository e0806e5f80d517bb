"""The on-policy family: one loop over a `Collector` (steps, whole episodes, Ray workers)
calling each algorithm's `improve` (batch policy gradient, A2C, PPO, TRPO), for one run or
R runs together."""

from gradlogpi.algorithms.on_policy.a2c import A2CConfig, a2c
from gradlogpi.algorithms.on_policy.batch_pg import BatchPolicyGradientConfig, batch_policy_gradient
from gradlogpi.algorithms.on_policy.config import CollectionConfig, OnPolicyConfig
from gradlogpi.algorithms.on_policy.loop import (
    Improve,
    ImproveTogether,
    RunBatch,
    RunStart,
    UpdateState,
    train_on_policy,
)
from gradlogpi.algorithms.on_policy.ppo import PPOConfig, ppo
from gradlogpi.algorithms.on_policy.trpo import TRPOConfig, trpo

__all__ = [
    "A2CConfig",
    "BatchPolicyGradientConfig",
    "CollectionConfig",
    "Improve",
    "ImproveTogether",
    "OnPolicyConfig",
    "PPOConfig",
    "RunBatch",
    "RunStart",
    "TRPOConfig",
    "UpdateState",
    "a2c",
    "batch_policy_gradient",
    "ppo",
    "train_on_policy",
    "trpo",
]
