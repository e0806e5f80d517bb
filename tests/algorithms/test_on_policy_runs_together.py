"""Runs learned together by the one on-policy loop (`runs = R`): run k ends exactly where
it would have alone, with its own seed and initial policy; the JAX backend makes the R
network updates one compiled call; a run that diverges or is stopped drops out alone."""

import numpy as np
import pytest

from gradlogpi.algorithms import EpisodeEnd, StopTraining
from gradlogpi.algorithms.on_policy import A2CConfig, PPOConfig, a2c, ppo
from gradlogpi.algorithms.on_policy.loop import RunStart, kept_finite_each
from gradlogpi.features import RawState
from gradlogpi.policies import LinearValue, MatrixSoftmaxPolicy

SEEDS = (11, 12, 13)


def jax_models(seed, dtype="float64"):
    pytest.importorskip("jax")
    from gradlogpi.policies.jax_policies import JaxSoftmaxPolicy, JaxValue
    from gradlogpi.policies.networks import MLP

    policy = JaxSoftmaxPolicy(4, 2, MLP(hidden=(16,)), seed=seed, lr=3e-3, dtype=dtype)
    return policy, JaxValue(4, MLP(hidden=(16,)), seed=seed + 100, lr=3e-3, dtype=dtype)


def assert_same_runs(alone, together):
    for k, result in enumerate(alone):
        np.testing.assert_allclose(together.parameters[k], result.parameters[0], atol=1e-12)
        np.testing.assert_allclose(
            together.value_parameters[k], result.value_parameters[0], atol=1e-12
        )
        width = together.returns.shape[1]
        np.testing.assert_array_equal(together.returns[k], result.returns[0, :width])


def alone_and_together(algorithm, config, made):
    """Each (policy, critic) of `made` learned alone with its seed of SEEDS, and all of
    them learned together as `RunStart`s."""
    seeds = SEEDS[: len(made)]
    alone = [
        algorithm("CartPole-v1", policy, config, value=value, seed=seed)
        for seed, (policy, value) in zip(seeds, made, strict=True)
    ]
    starts = [
        RunStart(seed, policy, value) for seed, (policy, value) in zip(seeds, made, strict=True)
    ]
    together = algorithm("CartPole-v1", made[0][0], config, value=made[0][1], seed=0, runs=starts)
    return alone, together


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ppo_runs_together_on_jax_end_where_each_run_ends_alone(dtype):
    """One vmapped program for three runs: their own θ₀, seeds, minibatches, target-KL
    stops and jointly trained critics; float64 to rounding, float32 as close."""
    config = PPOConfig(
        num_envs=4, steps_per_env=32, n_updates=4, epochs=3, minibatches=4,
        max_grad_norm=0.5, target_kl=0.01,
    )  # fmt: skip
    made = [jax_models(seed, dtype) for seed in SEEDS]
    alone, together = alone_and_together(ppo, config, made)
    assert together.returns.shape[0] == 3
    if dtype == "float64":
        assert_same_runs(alone, together)
    else:  # vmapped float32 kernels may round differently; four updates stay close
        for k, result in enumerate(alone):
            np.testing.assert_allclose(together.parameters[k], result.parameters[0], atol=1e-4)
    # the runs are different runs, not copies of one
    assert not np.allclose(together.parameters[0], together.parameters[1])


def test_a2c_runs_together_on_jax_end_where_each_run_ends_alone():
    config = A2CConfig(num_envs=4, steps_per_env=5, n_updates=10, max_grad_norm=0.5)
    made = [jax_models(seed) for seed in SEEDS]
    alone, together = alone_and_together(a2c, config, made)
    assert_same_runs(alone, together)


def test_ppo_runs_together_on_pytorch_take_each_run_in_turn_to_the_same_end():
    """A backend without one call for all runs (PyTorch) updates them one after another."""
    pytest.importorskip("torch")
    from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy, NeuralValue

    config = PPOConfig(num_envs=2, steps_per_env=16, n_updates=3, epochs=2, minibatches=2)
    made = [
        (NeuralSoftmaxPolicy(4, 2, (8,), seed=seed), NeuralValue(4, (8,), seed=seed))
        for seed in SEEDS[:2]
    ]
    alone, together = alone_and_together(ppo, config, made)
    assert_same_runs(alone, together)


def linear_models():
    policy = MatrixSoftmaxPolicy(RawState(4), 2).init(np.random.default_rng(0), scale=0.1)
    return policy, LinearValue(RawState(4))


def test_a_number_of_runs_learns_run_k_with_seed_spawn_k_from_the_models_given():
    """`runs = 3` with a linear policy: each run's update in turn, seeds spawned from `seed`."""
    config = PPOConfig(num_envs=2, steps_per_env=16, n_updates=3, alpha_theta=0.5)
    policy, value = linear_models()
    together = ppo("CartPole-v1", policy, config, value=value, seed=7, runs=3)
    spawned = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(7).spawn(3)]
    alone = [ppo("CartPole-v1", policy, config, value=value, seed=seed) for seed in spawned]
    assert_same_runs(alone, together)
    np.testing.assert_array_equal(together.run_ids, [0, 1, 2])


def test_a_run_stopped_by_its_callback_drops_out_alone():
    config = PPOConfig(num_envs=2, steps_per_env=16, n_updates=4, alpha_theta=0.5)
    policy, value = linear_models()
    seen: dict[int, list[int]] = {0: [], 1: [], 2: []}

    def callback(end: EpisodeEnd) -> None:
        assert end.snapshot is None  # runs learned together are not resumed
        seen[end.run].append(end.episode)
        if end.run == 1 and end.episode == 1:
            raise StopTraining

    ppo("CartPole-v1", policy, config, value=value, seed=7, runs=3, callback=callback)
    assert seen == {0: [0, 1, 2, 3], 1: [0, 1], 2: [0, 1, 2, 3]}


def test_kept_finite_each_puts_back_only_the_policies_left_non_finite():
    policies = [linear_models()[0] for _ in range(2000)]  # many runs: no nesting, no recursion
    before = [policy.get_flat() for policy in policies]

    def update() -> None:
        for k, policy in enumerate(policies):
            step = np.nan if k == 1 else 1.0
            policy.set_flat(policy.get_flat() + step)

    assert kept_finite_each(policies, update) == [True, False] + [True] * 1998
    np.testing.assert_array_equal(policies[1].get_flat(), before[1])
    np.testing.assert_array_equal(policies[0].get_flat(), before[0] + 1.0)
    np.testing.assert_array_equal(policies[2].get_flat(), before[2] + 1.0)


@pytest.mark.parametrize(
    ("runs", "error", "match"),
    [
        (0, ValueError, "`runs` must be a positive number"),
        ("three", TypeError, "`runs` must be None, a number of runs or a list of RunStart"),
        ([1, 2], TypeError, "`runs` must be None, a number of runs or a list of RunStart"),
        (True, TypeError, "`runs` must be None, a number of runs or a list of RunStart"),
        ([0, 1], TypeError, "`runs` must be None, a number of runs or a list of RunStart"),
    ],
)
def test_runs_that_are_not_runs_are_refused_by_name(runs, error, match):
    policy, value = linear_models()
    with pytest.raises(error, match=match):
        ppo("CartPole-v1", policy, PPOConfig(n_updates=1), value=value, runs=runs)


def test_runs_learned_together_cannot_be_resumed_as_one():
    policy, value = linear_models()
    with pytest.raises(ValueError, match="`resume` continues one run of ppo"):
        ppo("CartPole-v1", policy, PPOConfig(n_updates=1), value=value, runs=2, resume={})


def test_networks_of_different_shapes_do_not_train_together():
    pytest.importorskip("jax")
    from gradlogpi.algorithms.on_policy.a2c import AdvantageWeighted
    from gradlogpi.policies.contract import (
        Minibatches,
        RunMinibatches,
        maximize_minibatches_of_runs,
    )
    from gradlogpi.policies.jax_policies import JaxSoftmaxPolicy
    from gradlogpi.policies.networks import MLP

    small = JaxSoftmaxPolicy(4, 2, MLP(hidden=(8,)), seed=0)
    large = JaxSoftmaxPolicy(4, 2, MLP(hidden=(16,)), seed=0)
    samples = {
        "observations": np.zeros((4, 4)),
        "actions": np.zeros(4, dtype=np.int64),
        "advantages": np.ones(4),
    }
    plan = Minibatches(np.arange(4)[None, None, :])
    updates = [RunMinibatches(small, samples, plan), RunMinibatches(large, samples, plan)]
    with pytest.raises(ValueError, match="run 1 differs from run 0"):
        maximize_minibatches_of_runs(updates, AdvantageWeighted(False), {})


def test_a_diverged_network_run_gets_its_parameters_and_optimiser_back():
    policy = jax_models(5)[0]
    other = jax_models(6)[0]
    before = policy.get_flat(), policy.optimizer_state()[0]["optimizer_count"].copy()

    def update() -> None:
        policy.optimizer_step(np.full(policy.n_parameters, np.inf))
        other.optimizer_step(np.ones(other.n_parameters))

    assert kept_finite_each([policy, other], update) == [False, True]
    np.testing.assert_array_equal(policy.get_flat(), before[0])
    np.testing.assert_array_equal(policy.optimizer_state()[0]["optimizer_count"], before[1])
    assert other.optimizer_state()[0]["optimizer_count"] == 1


def test_runs_together_on_ray_are_refused_by_name():
    policy, value = linear_models()
    config = PPOConfig(n_updates=1, collection="ray")
    with pytest.raises(ValueError, match="`runs` must be 1 with collection = 'ray'"):
        ppo("CartPole-v1", policy, config, value=value, runs=2)


def test_runs_that_update_differently_are_refused_by_name():
    """One run's critic trains in the policy's loss, the other's by its own fit: no one
    program fits both."""
    pytest.importorskip("jax")
    from gradlogpi.policies import LinearValue

    config = PPOConfig(num_envs=2, steps_per_env=8, n_updates=1, epochs=1, minibatches=1)
    joint, separate = jax_models(1), (jax_models(2)[0], LinearValue(RawState(4)))
    starts = [RunStart(1, *joint), RunStart(2, *separate)]
    with pytest.raises(ValueError, match="run 1 differs from run 0"):
        ppo("CartPole-v1", joint[0], config, value=joint[1], runs=starts)


def test_the_run_ids_of_one_run_are_one_run():
    policy, value = linear_models()
    config = PPOConfig(num_envs=2, steps_per_env=8, n_updates=1)
    assert ppo("CartPole-v1", policy, config, value=value, runs=[0]).returns.shape[0] == 1
