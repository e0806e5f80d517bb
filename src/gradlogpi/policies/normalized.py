"""A policy that sees normalised observations: what a run trained with
`normalize_observations` is, outside its training loop (evaluation, video, explain)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlogpi.features.normalization import ObservationNormalizer
from gradlogpi.policies.actor import Actor
from gradlogpi.policies.contract import Policy

TAKES_OBSERVATIONS = (
    "log_prob",
    "score",
    "sample",
    "sample_from_noise",
    "logits",
    "probabilities",
    "mean",
    "log_std",
    "deterministic_action",
    "entropy",
    "weighted_score_sum",
    "mean_entropy_gradient",
    "fisher_vector_product",
)
"""The policy's methods whose first argument is a batch of observations."""


class ObservationNormalizedPolicy:
    """`policy` applied to x̃ = clip((x − μ)/σ) with frozen statistics; θ, noise sizes and
    everything else are `policy`'s.

    Args:
      policy: the trained policy (it was trained on normalised observations).
      normalizer: the statistics it was trained with; frozen here.
    """

    def __init__(self, policy: Policy, normalizer: ObservationNormalizer):
        self.policy = policy
        self.normalizer = normalizer.frozen()

    def __getattr__(self, name: str) -> Any:
        # only called for names this class does not define
        if "policy" not in self.__dict__:  # while copy.deepcopy rebuilds the object
            raise AttributeError(name)
        attribute = getattr(self.__dict__["policy"], name)
        if name in TAKES_OBSERVATIONS:
            normalize = self.__dict__["normalizer"].normalize
            return lambda obs, *rest: attribute(normalize(obs), *rest)
        return attribute

    def actor(self) -> Actor:
        return self._normalizing(self.policy.actor())

    def batch_actor(self) -> Actor:
        return self._normalizing(self.policy.batch_actor())

    def _normalizing(self, actor: Actor) -> Actor:
        normalize = self.normalizer.normalize
        return Actor(lambda obs, noise: actor.act(normalize(obs), noise), actor.prepare)

    def normalized_observations(self, obs: Any) -> np.ndarray:
        """What the policy sees for `obs` (shown by `explain`)."""
        return self.normalizer.normalize(obs)
