"""A policy on normalised observations: every method that reads observations sees them
normalised, greedy actions of Gaussian policies included."""

import inspect

import numpy as np

from gradlogpi.features import RawState
from gradlogpi.features.normalization import ObservationNormalizer
from gradlogpi.policies import LinearGaussianPolicy, contract
from gradlogpi.policies.greedy import GreedyPolicy
from gradlogpi.policies.normalized import TAKES_OBSERVATIONS, ObservationNormalizedPolicy


def test_every_contract_method_that_reads_observations_is_normalised():
    protocols = (
        contract.Policy,
        contract.DiscretePolicy,
        contract.GaussianPolicy,
        contract.NetworkPolicy,
        contract.ExactFisher,
    )
    reads_observations = {
        name
        for protocol in protocols
        for name, member in vars(protocol).items()
        if callable(member)
        and not name.startswith("_")
        and list(inspect.signature(member).parameters)[1:2] == ["obs"]
    }
    assert "deterministic_action" in reads_observations  # the check sees what it should
    assert reads_observations <= set(TAKES_OBSERVATIONS)


def test_greedy_actions_of_a_normalised_gaussian_policy_see_normalised_observations(rng):
    policy = LinearGaussianPolicy(RawState(3), 2)
    policy.set_flat(rng.normal(size=policy.n_parameters))
    normalizer = ObservationNormalizer((3,))
    normalizer.update(rng.normal(loc=5.0, scale=3.0, size=(500, 3)))
    normalized = ObservationNormalizedPolicy(policy, normalizer)
    observations = rng.normal(loc=5.0, scale=3.0, size=(7, 3))
    seen = normalizer.normalize(observations)
    np.testing.assert_allclose(normalized.deterministic_action(observations), policy.mean(seen))
    assert not np.allclose(normalized.deterministic_action(observations), policy.mean(observations))
    greedy = GreedyPolicy(normalized)
    np.testing.assert_allclose(greedy.actor().act(observations, None), policy.mean(seen))
