"""Ray backends against the local ones: same seeds, same numbers; killed workers retried."""

import dataclasses
import os

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from gradlogpi.algorithms.on_policy.batch_pg import BatchPolicyGradientConfig, batch_policy_gradient  # noqa: E402
from gradlogpi.features import RawState  # noqa: E402
from gradlogpi.policies import MatrixSoftmaxPolicy  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    fault = tmp_path_factory.mktemp("fault") / "worker-killed"
    os.environ["GRADLOGPI_FAULT_EXIT_ONCE"] = str(fault)  # inherited by Ray's workers
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield fault
    ray.shutdown()
    del os.environ["GRADLOGPI_FAULT_EXIT_ONCE"]


def test_ray_rollout_workers_give_the_local_batches(ray_session):
    local = BatchPolicyGradientConfig(
        n_updates=3, episodes_per_update=8, num_envs=4, alpha_theta=0.1, normalize_advantages=True
    )
    distributed = dataclasses.replace(local, rollout_workers=2, rollout_backend="ray")
    first = batch_policy_gradient("CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2), local, seed=2)
    second = batch_policy_gradient(
        "CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2), distributed, seed=2
    )
    np.testing.assert_array_equal(first.returns, second.returns)
    np.testing.assert_array_equal(first.policy.get_flat(), second.policy.get_flat())


@pytest.mark.parametrize("kind", ["linear", "neural"])
def test_ppo_on_ray_workers_learns_what_local_step_collection_learns(ray_session, kind):
    """collection='ray': 2 workers × 2 envs give the batches of 4 local envs, so the same run."""
    from gradlogpi.algorithms.on_policy.ppo import PPOConfig, ppo
    from gradlogpi.policies import LinearValue

    if kind == "neural":
        torch_policies = pytest.importorskip("gradlogpi.policies.torch_policies")
        pytest.importorskip("torch")

        def models():
            return (
                torch_policies.NeuralSoftmaxPolicy(4, 2, (16,), seed=3),
                torch_policies.NeuralValue(4, (16,), seed=4),
            )
    else:

        def models():
            return MatrixSoftmaxPolicy(RawState(4), 2).init(np.random.default_rng(3)), LinearValue(
                RawState(4)
            )

    local = PPOConfig(n_updates=4, num_envs=4, steps_per_env=32, epochs=2, minibatches=2)
    distributed = dataclasses.replace(local, collection="ray", rollout_workers=2)
    results = []
    for config in (local, distributed):
        policy, value = models()
        results.append(ppo("CartPole-v1", policy, config, value=value, seed=5))
    first, second = results
    assert first.returns.size > 4
    np.testing.assert_array_equal(first.returns, second.returns)
    np.testing.assert_array_equal(first.parameters, second.parameters)
    np.testing.assert_array_equal(first.value_parameters, second.value_parameters)


def test_a_run_on_ray_workers_resumes_from_a_snapshot_to_the_uninterrupted_run(ray_session):
    """Each worker's environments are in the snapshot: resumed, the run goes on bit for bit."""
    from gradlogpi.algorithms.on_policy.ppo import PPOConfig, ppo
    from gradlogpi.policies import LinearValue

    config = PPOConfig(
        n_updates=4, num_envs=4, steps_per_env=32, epochs=2, collection="ray", rollout_workers=2
    )
    snapshots = {}

    def keep(end):
        if end.episode == 1:
            snapshots["state"] = end.snapshot()

    def learn(**arguments):
        policy = MatrixSoftmaxPolicy(RawState(4), 2).init(np.random.default_rng(3))
        return ppo(
            "CartPole-v1", policy, config, value=LinearValue(RawState(4)), seed=5, **arguments
        )

    whole = learn(callback=keep)
    assert any(k.startswith("collector_worker1_env_") for k in snapshots["state"]["arrays"])
    resumed = learn(resume=snapshots["state"])
    np.testing.assert_array_equal(resumed.returns, whole.returns)
    np.testing.assert_array_equal(resumed.parameters, whole.parameters)


def test_sweep_on_ray_equals_local_and_survives_a_killed_worker(ray_session, tmp_path):
    from gradlogpi.runs.sweep import run_sweep

    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        'seeds = [0, 1]\n[base]\nenv = "gradlogpi/ShortCorridor-v0"\nalgorithm = "reinforce"\n'
        '[base.policy]\nkind = "linear_softmax"\np_right0 = 0.3\n[base.features]\nkind = "corridor"\n'
        '[base.hyperparameters]\nn_episodes = 10\n[grid]\n"hyperparameters.alpha_theta" = [0.001, 0.002]\n'
    )
    on_ray = run_sweep(sweep, tmp_path / "ray", backend="ray")
    assert ray_session.exists()  # one worker really died, and its member was run again
    os.environ.pop("GRADLOGPI_FAULT_EXIT_ONCE")  # the local backend would not retry
    try:
        local = run_sweep(sweep, tmp_path / "local", workers=1)
    finally:
        os.environ["GRADLOGPI_FAULT_EXIT_ONCE"] = str(ray_session)
    assert [m["name"] for m in on_ray] == [m["name"] for m in local]
    for first, second in zip(on_ray, local, strict=True):
        assert first["final_mean_return"] == second["final_mean_return"]
        rows = (tmp_path / "ray" / first["name"] / "metrics.csv").read_text().strip().splitlines()
        assert len(rows) == 1 + 10  # nothing lost, nothing duplicated
