"""Acting without exploration: the most probable action, or the Gaussian's mean.

Evaluation has two conventions. Stochastic evaluation samples actions as training did;
greedy (deterministic) evaluation takes argmax_a π(a|s) for a softmax policy and the mean
μ(s) for a Gaussian one, as Stable-Baselines3's `evaluate_policy(deterministic=True)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlogpi.policies.actor import Actor
from gradlogpi.policies.contract import DiscretePolicy, GaussianPolicy, Policy


class GreedyPolicy:
    """`policy` acting greedily; everything else (θ, the score, noise sizes) is `policy`'s.

    Sampling ignores the pre-drawn noise, so a greedy episode depends only on the
    environment's seeds.
    """

    def __init__(self, policy: Policy):
        if not isinstance(policy, DiscretePolicy | GaussianPolicy):
            raise TypeError(
                "`policy` must be a softmax policy or have a mean (Gaussian) to act greedily; "
                f"got {type(policy).__name__}"
            )
        self.policy = policy

    def __getattr__(self, name: str) -> Any:
        # only called for names this class does not define: θ, score, noise_size, …
        if "policy" not in self.__dict__:  # while copy.deepcopy rebuilds the object
            raise AttributeError(name)
        return getattr(self.__dict__["policy"], name)

    def sample_from_noise(self, obs: Any, noise: np.ndarray) -> np.ndarray:
        """argmax_a π(a|s) (the first on a tie), or the Gaussian's deterministic action
        (μ(s), squashed if the policy squashes); `noise` is not used."""
        if isinstance(self.policy, DiscretePolicy):
            return self.policy.logits(obs).argmax(axis=-1)  # argmax h = argmax softmax(h)
        assert isinstance(self.policy, GaussianPolicy)  # checked when made
        return self.policy.deterministic_action(obs)

    def actor(self) -> Actor:
        return Actor(self.sample_from_noise)
