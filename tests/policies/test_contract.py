"""The policy contract: every shipped policy follows it, θ always has a run axis."""

import numpy as np
import pytest

from gradlogpi.features import Constant, RawState, Stacked
from gradlogpi.policies import (
    ArrayPolicy,
    DiscretePolicy,
    LinearGaussianPolicy,
    LinearSoftmaxPolicy,
    LinearValue,
    MatrixSoftmaxPolicy,
    Policy,
    TorchTrainedPolicy,
    ValueFunction,
    of_run,
    with_run_axis,
)
from gradlogpi.policies.contract import minibatch_plan


def array_policies():
    return [
        MatrixSoftmaxPolicy(RawState(3), 2),
        LinearSoftmaxPolicy(Stacked(RawState(3), 2, action_encoding="onehot")),
        LinearGaussianPolicy(RawState(3), 2),
    ]


@pytest.mark.parametrize("policy", array_policies(), ids=lambda p: type(p).__name__)
def test_array_policies_follow_the_contract_with_a_run_axis(policy, rng):
    assert isinstance(policy, Policy) and isinstance(policy, ArrayPolicy)
    assert not isinstance(policy, TorchTrainedPolicy)
    assert policy.get_theta().shape == (1, policy.n_parameters)
    runs = with_run_axis(policy, 3)
    assert runs.get_theta().shape == (3, policy.n_parameters)
    assert policy.get_flat().shape == (policy.n_parameters,)  # the original is untouched
    theta = rng.standard_normal((3, policy.n_parameters))
    runs.set_theta(theta)
    np.testing.assert_array_equal(runs.get_theta(), theta)
    np.testing.assert_array_equal(of_run(runs, 2).get_flat(), theta[2])
    with pytest.raises(ValueError, match=r"`theta` must have one run"):
        policy.set_theta(theta)
    with pytest.raises(ValueError, match=r"have 3 runs; `runs` asks for 4"):
        with_run_axis(runs, 4)


def test_discrete_and_value_protocols():
    assert isinstance(MatrixSoftmaxPolicy(RawState(3), 2), DiscretePolicy)
    assert not isinstance(LinearGaussianPolicy(RawState(3), 1), DiscretePolicy)
    value = LinearValue(Constant())
    assert isinstance(value, ValueFunction) and not isinstance(value, Policy)


def test_neural_policies_follow_the_contract():
    pytest.importorskip("torch")
    from gradlogpi.policies.torch_policies import NeuralGaussianPolicy, NeuralSoftmaxPolicy

    for policy in (NeuralSoftmaxPolicy(3, 2, (4,)), NeuralGaussianPolicy(3, 1, (4,))):
        assert isinstance(policy, Policy) and isinstance(policy, TorchTrainedPolicy)
        assert not isinstance(policy, ArrayPolicy)  # no θ array to step in place
        theta = policy.get_theta()
        assert theta.shape == (1, policy.n_parameters)
        policy.set_theta(theta + 1.0)
        np.testing.assert_allclose(policy.get_flat(), theta[0] + 1.0)


def test_network_critics_are_value_functions_a_network_policy_can_train():
    from gradlogpi.features import RawState
    from gradlogpi.policies import LinearValue, NetworkValueFunction, ValueFunction

    critics = [LinearValue(RawState(3))]
    for module, name in (("torch_policies", "NeuralValue"), ("jax_policies", "JaxValue")):
        backend = pytest.importorskip("torch" if module.startswith("torch") else "jax")
        assert backend is not None
        critics.append(
            getattr(__import__(f"gradlogpi.policies.{module}", fromlist=[name]), name)(3)
        )
    assert all(isinstance(critic, ValueFunction) for critic in critics)
    assert [isinstance(critic, NetworkValueFunction) for critic in critics] == [False, True, True]


@pytest.mark.parametrize(("n_samples", "minibatches"), [(256, 1), (16384, 256), (1000, 7), (5, 8)])
def test_a_minibatch_plan_is_each_epochs_permutation_split_as_array_split_splits_it(
    n_samples, minibatches
):
    plan = minibatch_plan(n_samples, 3, minibatches, np.random.default_rng(7))
    shuffle = np.random.default_rng(7)
    for epoch in range(3):
        parts = np.array_split(shuffle.permutation(n_samples), minibatches)
        for row, part in enumerate(parts):
            np.testing.assert_array_equal(plan.indices[epoch, row, : part.size], part)
            assert (plan.indices[epoch, row, part.size :] == -1).all()


def test_a_minibatch_plan_of_no_epochs_is_empty():
    assert minibatch_plan(10, 0, 3, np.random.default_rng(0)).indices.shape == (0, 3, 4)
    assert minibatch_plan(10, 0, 1, np.random.default_rng(0)).indices.shape == (0, 1, 10)


class HalfBuilt:
    """Has every `ValueFunction` member once built; asks the protocol before that."""

    def __init__(self):
        self.seen_while_building = isinstance(self, ValueFunction)
        self.w = np.zeros(1)
        self.value = self.gradient = self.ascend = self.fit = lambda *args: None
        self.get_flat = self.set_flat = lambda *args: None
        self.training_state = self.load_training_state = lambda *args: None


def test_a_protocol_answers_per_object_and_remembers_only_a_yes():
    early = HalfBuilt()
    assert not early.seen_while_building  # asked before its members were set
    assert isinstance(early, ValueFunction)  # the earlier no was not remembered
    assert HalfBuilt().seen_while_building  # a yes is remembered for the class: then even
    # a half-built instance of it is one (a class has the members its instances have)
    assert not isinstance(object(), ValueFunction)
    assert isinstance(LinearValue(RawState(2)), ValueFunction)
    assert not isinstance(LinearValue(RawState(2)), Policy)


def test_wrappers_that_forward_lookups_are_asked_every_time():
    # ObservationNormalizedPolicy and GreedyPolicy answer lookups from the policy they wrap:
    # a yes for one wrapped policy says nothing about the next (the review's example)
    from gradlogpi.features.normalization import ObservationNormalizer
    from gradlogpi.policies import GaussianPolicy
    from gradlogpi.policies.greedy import GreedyPolicy
    from gradlogpi.policies.normalized import ObservationNormalizedPolicy

    normalizer = ObservationNormalizer((3,))
    discrete = ObservationNormalizedPolicy(MatrixSoftmaxPolicy(RawState(3), 2), normalizer)
    gaussian = ObservationNormalizedPolicy(LinearGaussianPolicy(RawState(3), 2), normalizer)
    for _ in range(2):  # in either order, again after both were asked
        assert isinstance(discrete, DiscretePolicy) and not isinstance(gaussian, DiscretePolicy)
        assert isinstance(gaussian, GaussianPolicy) and not isinstance(discrete, GaussianPolicy)
    greedy = GreedyPolicy(gaussian)
    assert greedy.sample_from_noise(np.zeros((1, 3)), None).shape == (1, 2)  # its mean


def test_the_protocols_members_are_their_own():
    # the metaclass that remembers answers adds no member a policy would have to have
    import typing

    for protocol in (Policy, ValueFunction, DiscretePolicy, ArrayPolicy, TorchTrainedPolicy):
        members = typing._get_protocol_attrs(protocol)  # what Python 3.11 checks
        assert not any(name.startswith("_") for name in members), members
