"""Evaluation during training: fresh episodes, the final policy, each run's best kept."""

import csv
import json
import re

import numpy as np
import pytest

from gradlogpi.errors import CheckpointError
from gradlogpi.features import RawState
from gradlogpi.policies import LinearGaussianPolicy, MatrixSoftmaxPolicy
from gradlogpi.policies.greedy import GreedyPolicy
from gradlogpi.runs.checkpoints import load_checkpoint
from gradlogpi.runs.config import load_config
from gradlogpi.runs.evaluate import evaluate, load_run
from gradlogpi.runs.train import train


def test_the_default_episodes_per_periodic_evaluation_are_the_measured_ones():
    """docs/guide/evaluation.md states the default and its measured cost: they move together."""
    from pathlib import Path

    from gradlogpi.runs.config import EVAL_EPISODES, TrainConfig

    assert TrainConfig().eval_episodes == EVAL_EPISODES
    page = (Path(__file__).parents[2] / "docs" / "guide" / "evaluation.md").read_text()
    assert f"`eval_episodes` ({EVAL_EPISODES})" in page


def corridor_config(**overrides):
    return load_config(
        "configs/short_corridor.toml",
        {
            "runs": 2,
            "hyperparameters.n_episodes": 40,
            "evaluation_episodes": 20,
            **overrides,
        },
    )


def test_periodic_and_final_evaluations_and_each_runs_best(tmp_path):
    outcome = train(corridor_config(eval_every=10, eval_episodes=7), tmp_path)
    with open(tmp_path / "evaluations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    periodic = [row for row in rows if row["kind"] == "periodic"]
    assert sorted({int(row["index"]) for row in periodic}) == [9, 19, 29, 39]
    assert {row["run"] for row in periodic} == {"0", "1"}
    final = [row for row in rows if row["kind"] == "final"]
    # each periodic evaluation plays eval_episodes, the final one evaluation_episodes
    assert {row["episodes"] for row in periodic} == {"7"}
    assert {row["episodes"] for row in final} == {"20"}
    assert [float(row["mean_return"]) for row in final] == [
        e.mean_return for e in outcome.evaluation
    ]
    summary = json.loads((tmp_path / "evaluation.json").read_text())
    assert summary["mode"] == "stochastic" and summary["episodes"] == 20
    arrays, metadata = load_checkpoint(tmp_path / "checkpoint_best")
    assert arrays["theta"].shape == outcome.result.parameters.shape
    for run in (0, 1):
        means = [float(r["mean_return"]) for r in periodic if r["run"] == str(run)]
        assert metadata["best"][run]["mean_return"] == max(means)
        # the best θ evaluates, from the run directory, to the number that chose it
        again = evaluate(tmp_path, episodes=7, seed=summary["seed"], run=run, checkpoint="best")
        assert again.mean_return == pytest.approx(max(means))


def test_the_final_evaluation_is_of_the_saved_policy(tmp_path):
    outcome = train(corridor_config(), tmp_path)
    summary = json.loads((tmp_path / "evaluation.json").read_text())
    for run in (0, 1):
        saved = evaluate(tmp_path, episodes=20, seed=summary["seed"], run=run)
        assert saved.mean_return == outcome.evaluation[run].mean_return
    with pytest.raises(CheckpointError, match=r"no best checkpoint; .*eval_every=N"):
        load_run(tmp_path, 0, "best")


def test_greedy_acts_with_the_most_probable_action_or_the_mean(rng):
    softmax = MatrixSoftmaxPolicy(RawState(3), 4).init(rng, scale=1.0)
    obs = rng.normal(size=(6, 3))
    greedy = GreedyPolicy(softmax)
    noise = rng.normal(size=(6, 4))
    np.testing.assert_array_equal(
        greedy.sample_from_noise(obs, noise), softmax.probabilities(obs).argmax(axis=-1)
    )
    assert greedy.n_parameters == softmax.n_parameters  # everything else is the policy's
    gaussian = LinearGaussianPolicy(RawState(3), 2)
    gaussian.set_flat(rng.normal(size=gaussian.n_parameters))
    np.testing.assert_array_equal(
        GreedyPolicy(gaussian).sample_from_noise(obs, rng.normal(size=(6, 4))), gaussian.mean(obs)
    )


def test_evaluating_on_a_gymnasium_env_one_episode_after_another_is_the_lockstep_runs():
    """Episode k is run k of the seed either way: played alone through the one-env loop
    (what `evaluate_policy` does on a Gymnasium env) or among all as lockstep runs."""
    import gymnasium as gym

    from gradlogpi.features import RawState
    from gradlogpi.policies import MatrixSoftmaxPolicy
    from gradlogpi.policies.contract import with_run_axis
    from gradlogpi.rollouts.episodes import Runs, evaluate_policy, generate_episode, policy_streams

    policy = MatrixSoftmaxPolicy(RawState(4), 2).init(np.random.default_rng(0), scale=0.5)
    returns, truncated = evaluate_policy("CartPole-v1", policy, 12, seed=4)
    streams = policy_streams(4, range(12), policy)
    lockstep = generate_episode(
        Runs(gym.make("CartPole-v1"), streams, None), with_run_axis(policy, 12)
    )
    np.testing.assert_array_equal(returns, lockstep.rewards.sum(axis=1))
    np.testing.assert_array_equal(truncated, lockstep.truncated)
    assert len(set(returns.tolist())) > 3  # different episodes


def test_a_normalised_run_is_evaluated_with_its_statistics_and_never_without(tmp_path):
    """Final, best and later `evaluate` all act on the observation statistics saved with θ."""
    from gradlogpi.policies.normalized import ObservationNormalizedPolicy
    from gradlogpi.runs.checkpoints import save_checkpoint

    config = load_config(
        "configs/cartpole_linear.toml",
        {
            "runs": 2,
            "eval_every": 2,
            "eval_episodes": 10,
            "evaluation_episodes": 10,
            "hyperparameters.n_updates": 6,
            "hyperparameters.normalize_observations": True,
            "hyperparameters.normalize_rewards": True,
        },
    )
    outcome = train(config, tmp_path)
    summary = json.loads((tmp_path / "evaluation.json").read_text())
    arrays, metadata = load_checkpoint(tmp_path / "checkpoint")
    assert arrays["observation_mean"].shape == (2, 4)  # each run its own statistics
    assert not np.array_equal(arrays["observation_mean"][0], arrays["observation_mean"][1])
    for run in (0, 1):
        _, policy = load_run(tmp_path, run)
        assert isinstance(policy, ObservationNormalizedPolicy)
        np.testing.assert_array_equal(
            policy.normalizer.get_state()["mean"], arrays["observation_mean"][run]
        )
        saved = evaluate(tmp_path, episodes=10, seed=summary["seed"], run=run)
        assert saved.mean_return == outcome.evaluation[run].mean_return
        best = summary["best"][run]["mean_return"]
        again = evaluate(tmp_path, episodes=10, seed=summary["seed"], run=run, checkpoint="best")
        assert again.mean_return == pytest.approx(best)
    stripped = {k: v for k, v in arrays.items() if not k.startswith("observation_")}
    kept = {k: v for k, v in metadata.items() if k not in ("sha256", "arrays", "versions")}
    save_checkpoint(tmp_path / "checkpoint", stripped, kept)
    with pytest.raises(
        CheckpointError, match=r"normalised its observations .* holds no observation"
    ):
        load_run(tmp_path, 0)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-run corridor run (θ [2, 2]), made once."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    train(corridor_config(**{"hyperparameters.n_episodes": 3, "evaluation_episodes": 1}), run_dir)
    return run_dir


@pytest.mark.parametrize(
    ("theta", "found"),
    [
        (None, "is missing; expected float of shape (2, any); found arrays ['other']"),
        (
            np.zeros((2, 2), dtype=np.int64),
            "must be float of shape (2, any); got int64 of shape (2, 2)",
        ),
        (np.zeros((3, 2)), "must be float of shape (2, any); got float64 of shape (3, 2)"),
        (np.zeros(4), "must be float of shape (2, any); got float64 of shape (4,)"),
        (np.zeros((2, 5)), "must be float of shape (2, 2); got float64 of shape (2, 5)"),
        (
            np.array([["a", "b"], ["c", "d"]]),
            "must have a numeric dtype (bool, integer or float); got <U1",
        ),
    ],
)
def test_load_run_refuses_a_theta_that_is_not_what_the_config_implies(
    finished_run, tmp_path, theta, found
):
    import shutil

    from gradlogpi.runs.checkpoints import save_checkpoint

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    arrays = {"other": np.zeros(1)} if theta is None else {"theta": theta}
    save_checkpoint(run_dir / "checkpoint", arrays, {})
    message = f"checkpoint {run_dir / 'checkpoint.npz'}: array `theta` {found}"
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_run(run_dir)


def test_load_run_reads_the_checkpoint_it_checks(finished_run):
    config, policy = load_run(finished_run, 1)
    assert config.runs == 2 and policy.get_flat().shape == (2,)


def test_a_run_from_before_log_std_evaluates_with_the_bounded_form_it_trained(tmp_path):
    """A neural Gaussian's config.toml written before `policy.log_std` existed has no such
    key; `load_run` must read its η as the bounded form, not as log σ itself."""
    pytest.importorskip("jax")
    config = load_config(
        "configs/pendulum_ppo.toml",
        {
            "policy.log_std": "bounded",
            "policy.log_std0": -0.5,
            "evaluation_episodes": 1,
            "hyperparameters.n_updates": 2,
        },
    )
    train(config, tmp_path)
    _, trained = load_run(tmp_path)
    states = np.zeros((3, 3))
    path = tmp_path / "config.toml"
    path.write_text(re.sub(r'(?m)^log_std = "bounded"\n', "", path.read_text()))
    assert "log_std =" not in path.read_text()
    _, legacy = load_run(tmp_path)
    np.testing.assert_allclose(legacy.log_std(states), trained.log_std(states))
    path.write_text(path.read_text().replace("[policy]\n", '[policy]\nlog_std = "free"\n'))
    _, misread = load_run(tmp_path)
    assert np.abs(misread.log_std(states) - trained.log_std(states)).min() > 0.1


def test_a_training_step_cap_leaves_the_evaluation_episodes_whole(tmp_path):
    """`hyperparameters.max_episode_steps` cuts the training episodes only (the shipped
    InvertedDoublePendulum config trains on 200-step episodes and is judged on the task's
    1000): on CartPole, where the return is the length, training returns stay at the cap
    and the final evaluation's do not."""
    pytest.importorskip("jax")
    config = load_config(
        "configs/cartpole_neural.toml",
        {
            "hyperparameters.max_episode_steps": 5,
            "hyperparameters.n_updates": 2,
            "evaluation_episodes": 20,
        },
    )
    train(config, tmp_path)
    with open(tmp_path / "metrics.csv") as handle:
        lengths = [int(row["length"]) for row in csv.DictReader(handle)]
    assert lengths and max(lengths) == 5
    final = json.loads((tmp_path / "evaluation.json").read_text())["final"][0]
    assert final["episodes"] == 20 and final["mean_return"] > 5
