"""`bash dev.sh compare` keeps each finished run: a re-run continues; Ctrl-C says what was kept.

The runs themselves (SB3 and ours, minutes each, in the compare venv) are replaced by a
stand-in that returns a record at once: what is tested is the bookkeeping around them.
"""

import dataclasses
import json
import re
from pathlib import Path

import pytest

compare = pytest.importorskip("benchmarks.compare")


def stand_in(job, quick, out):
    return {**job, "returns": [1.0], "lengths": [1], "seconds": 0.1, "final": 9.0}


class InlinePool:
    """The compare's worker pool, run here: a call runs when its result is waited for (so
    monkeypatched runs take effect, and the runs before a Ctrl-C are kept)."""

    def __init__(self, workers, fresh=False):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, function, *arguments):
        from concurrent.futures import Future

        future = Future()
        future.call = (function, arguments)
        return future

    @staticmethod
    def completed(futures):
        for future in list(futures):
            function, arguments = future.call
            try:
                future.set_result(function(*arguments))
            except Exception as error:
                future.set_exception(error)
            yield future


def test_ctrl_c_keeps_the_finished_runs_and_a_rerun_does_only_the_rest(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "compare"
    every = [compare.job_key(job) for job in compare.jobs_for(compare.make_tasks(True), [0, 1])]
    # --quick: CartPole, 2 seeds; PPO: SB3, SBX, our neural and linear policies; A2C: SB3, ours
    assert len(every) == 12
    arguments = ["--quick", "--workers", "1", "--out", str(out)]
    started = []

    def interrupted_on_the_third(job, quick, out):
        started.append(compare.job_key(job))
        if len(started) == 3:
            raise KeyboardInterrupt
        return stand_in(job, quick, out)

    monkeypatch.setattr(compare, "WorkerPool", InlinePool)
    monkeypatch.setattr(compare, "write_config", lambda *args: None)
    monkeypatch.setattr(compare, "run_job", interrupted_on_the_third)
    with pytest.raises(SystemExit) as stopped:
        compare.main(arguments)
    assert stopped.value.code == 130
    log = out / "runs.jsonl"
    error = capsys.readouterr().err
    assert f"interrupted: kept 2 of 12 finished runs in {log}" in error
    assert "continue with: bash dev.sh compare --quick --workers 1 --out" in error
    kept = [compare.job_key(json.loads(line)) for line in log.read_text().splitlines()]
    assert [list(k) for k in kept] == [list(k) for k in started[:2]]

    ran = []

    def counted(job, quick, out):
        ran.append(compare.job_key(job))
        return stand_in(job, quick, out)

    monkeypatch.setattr(compare, "run_job", counted)
    monkeypatch.setattr(compare, "report", lambda *args: "report")
    assert compare.main(arguments) == 0
    assert "10 runs to do (2 already in" in capsys.readouterr().out
    assert ran == [key for key in every if key not in kept]
    assert len(log.read_text().splitlines()) == len(every)


def test_a2c_tasks_alternate_gradlogpi_and_sb3_seed_by_seed_without_sbx():
    tasks = compare.make_tasks(False)
    a2c = {name: task for name, task in tasks.items() if task.algorithm == "a2c"}
    assert list(a2c) == ["CartPole-v1-a2c"]
    jobs = compare.jobs_for(a2c, [20, 21])
    assert [(job["library"], job["seed"]) for job in jobs] == [
        ("gradlogpi", 20), ("stable-baselines3", 20), ("gradlogpi", 21), ("stable-baselines3", 21)
    ]  # fmt: skip
    assert {job["algorithm"] for job in jobs} == {"a2c"}
    assert {job["steps"] for job in jobs} == {500_000}  # the zoo's n_timesteps, 5e5
    # PPO's tasks keep all three libraries, and their names (records in runs.jsonl stay valid)
    ppo = compare.jobs_for({"CartPole-v1": tasks["CartPole-v1"]}, [0], linear=False)
    assert [job["library"] for job in ppo] == list(compare.LIBRARIES)
    key = ("CartPole-v1", "gradlogpi", "neural", 0, 100_000, compare.PROTOCOL)
    assert compare.job_key(ppo[0]) == key


def test_the_a2c_task_trains_the_shipped_a2c_config_at_the_zoos_budget():
    from gradlogpi.algorithms.on_policy.a2c import A2CConfig
    from gradlogpi.runs.config import TrainConfig, load_config

    task = compare.make_tasks(False)["CartPole-v1-a2c"]
    ours = TrainConfig.model_validate(task.ours)
    shipped = load_config(Path(__file__).resolve().parents[2] / "configs" / "cartpole_a2c.toml")
    assert (ours.env, ours.algorithm) == ("CartPole-v1", "a2c")
    assert ours.policy == shipped.policy
    assert ours.value == shipped.value
    settings = A2CConfig(**ours.hyperparameters)
    assert settings == A2CConfig(**shipped.hyperparameters)  # 12,500 updates × 8 envs × 5 steps
    assert settings.n_updates * settings.num_envs * settings.steps_per_env == task.steps
    quick = compare.make_tasks(True)["CartPole-v1-a2c"]
    assert A2CConfig(**quick.ours["hyperparameters"]).n_updates == 20_000 // 40


def test_sb3_gets_a2cs_keywords_and_sbx_has_no_a2c():
    tasks = compare.make_tasks(False)
    a2c = compare.sb3_kwargs(tasks["CartPole-v1-a2c"].zoo, "a2c")
    assert a2c == {"ent_coef": 0.0, "learning_rate": 7e-4}  # the rest: SB3's A2C defaults
    ppo = compare.sb3_kwargs(tasks["CartPole-v1"].zoo)
    assert ppo["batch_size"] == 256 and ppo["n_epochs"] == 20
    assert ppo["learning_rate"](0.5) == pytest.approx(5e-4)  # lin_0.001
    assert ppo["clip_range"](0.5) == pytest.approx(0.1)  # lin_0.2
    assert compare.peer_class("stable-baselines3", "a2c") == ("stable_baselines3", "A2C")
    assert compare.peer_class("stable-baselines3", "ppo") == ("stable_baselines3", "PPO")
    assert compare.peer_class("sbx", "ppo") == ("sbx", "PPO")
    with pytest.raises(ValueError, match=re.escape("SBX has no A2C")):
        compare.peer_class("sbx", "a2c")


def test_algorithms_and_first_seed_select_the_runs(tmp_path, monkeypatch, capsys):
    ran, reported = [], []

    def counted(job, quick, out):
        ran.append(job)
        return stand_in(job, quick, out)

    monkeypatch.setattr(compare, "WorkerPool", InlinePool)
    monkeypatch.setattr(compare, "write_config", lambda *args: None)
    monkeypatch.setattr(compare, "run_job", counted)
    monkeypatch.setattr(compare, "report", lambda out, tasks, *rest: reported.append(tasks) or "")
    arguments = ["--quick", "--algorithms", "a2c", "--first-seed", "20", "--out", str(tmp_path)]
    assert compare.main(arguments) == 0
    assert [(job["task"], job["library"], job["seed"]) for job in ran] == [
        ("CartPole-v1-a2c", "gradlogpi", 20), ("CartPole-v1-a2c", "stable-baselines3", 20),
        ("CartPole-v1-a2c", "gradlogpi", 21), ("CartPole-v1-a2c", "stable-baselines3", 21),
    ]  # fmt: skip
    assert list(reported[0]) == ["CartPole-v1-a2c"]
    with pytest.raises(SystemExit) as stopped:
        compare.main(["--quick", "--tasks", "CartPole-v1", "--algorithms", "a2c"])
    assert stopped.value.code == 2
    assert "--algorithms a2c: none of the selected tasks trains a2c" in capsys.readouterr().err


def test_the_report_of_a2c_names_it_and_has_no_sbx_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(  # rliable lives in the compare venv only
        compare, "interval_estimates", lambda finals: {k: (1.0, 0.5, 1.5) for k in finals}
    )
    tasks = {"CartPole-v1-a2c": compare.make_tasks(False)["CartPole-v1-a2c"]}
    records = [
        {**job, "returns": [10.0, 20.0], "lengths": [10, 20], "seconds": seconds, "final": 9.0}
        for job, seconds in zip(compare.jobs_for(tasks, [20]), (2.0, 6.0), strict=True)
    ]
    text = compare.report(tmp_path, tasks, records, "bash dev.sh compare --algorithms a2c")
    assert text.splitlines()[0] == "# A2C: gradlogpi against Stable-Baselines3"
    rows = [line for line in text.splitlines() if line.startswith("| CartPole-v1-a2c |")]
    assert [row.split(" | ")[2] for row in rows] == ["gradlogpi", "stable-baselines3"]
    assert rows[1].endswith("| 6.0 | 3.00 |")  # SB3's median seconds over ours
    assert "| sbx |" not in text
    assert "- CartPole-v1-a2c seed 20: gradlogpi 2.0, stable-baselines3 6.0" in text
    assert (tmp_path / "CartPole-v1-a2c.png").exists()


def test_sb3s_a2c_runs_in_the_compare_venv():
    pytest.importorskip("stable_baselines3")
    import dataclasses

    task = dataclasses.replace(compare.make_tasks(True)["CartPole-v1-a2c"], steps=80)
    record = compare.run_peer(task, 0, "stable-baselines3")
    assert record["class"] == "stable_baselines3.A2C"
    assert record["final"] >= 8  # CartPole's shortest episodes last 8 steps or more


def test_where_the_zoo_normalises_our_runs_normalise_too():
    tasks = compare.make_tasks(quick=False)
    for name in ("Acrobot-v1", "InvertedPendulum-v5"):
        hyper = tasks[name].ours["hyperparameters"]
        assert tasks[name].zoo["normalize"]
        assert hyper["normalize_observations"] and hyper["normalize_rewards"], name
    assert not tasks["CartPole-v1"].ours["hyperparameters"].get("normalize_observations")
    inverted = tasks["InvertedPendulum-v5"]
    assert inverted.ours["hyperparameters"]["value_coefficient"] == inverted.zoo["vf_coef"]


def test_where_the_zoo_explores_with_gsde_our_runs_do_too():
    """Pendulum: the zoo's use_sde and sde_sample_freq reach our [policy.gsde] (and the
    config they make is one our loader takes); SBX, which has no gSDE, drops them."""
    from gradlogpi.runs.config import TrainConfig

    pendulum = compare.make_tasks(False)["Pendulum-v1"]
    assert pendulum.zoo["use_sde"] and pendulum.zoo["sde_sample_freq"] == 4
    gsde = TrainConfig.model_validate(pendulum.ours).policy.gsde
    assert gsde is not None and gsde.sample_every == 4 and not gsde.learn_features
    assert {"use_sde", "sde_sample_freq"} <= set(pendulum.sbx_drops)
    assert "gsde" not in compare.make_tasks(False)["InvertedPendulum-v5"].ours["policy"]


def test_mountaincar_ships_the_zoos_settings_but_its_budget_and_entropy_bonus():
    """MountainCar's shipped config is the comparison's (the zoo's settings, normalisation
    and networks) but for two named changes: twice the zoo's 1M steps and an entropy bonus
    of 0.01 (the zoo has none). The shipped Pendulum, InvertedDoublePendulum and Hopper
    configs are further from the zoo's: the comparison keeps the zoo's for them."""
    from gradlogpi.algorithms.on_policy.ppo import PPOConfig
    from gradlogpi.runs.config import TrainConfig, load_config

    task = compare.make_tasks(False)["MountainCar-v0"]
    ours = TrainConfig.model_validate(task.ours)
    shipped = load_config(Path(__file__).resolve().parents[2] / "configs" / "mountaincar_ppo.toml")
    assert (ours.env, ours.algorithm) == (shipped.env, "ppo")
    assert ours.policy == shipped.policy
    assert ours.value == shipped.value
    settings = PPOConfig(**ours.hyperparameters)
    shipped_settings = PPOConfig(**shipped.hyperparameters)
    differences = {
        field.name
        for field in dataclasses.fields(PPOConfig)
        if getattr(settings, field.name) != getattr(shipped_settings, field.name)
    }
    assert differences == {"n_updates", "entropy_coefficient"}
    assert (settings.entropy_coefficient, shipped_settings.entropy_coefficient) == (0.0, 0.01)
    assert shipped_settings.n_updates == 2 * settings.n_updates
    assert settings.n_updates * settings.num_envs * settings.steps_per_env <= task.steps
    assert task.steps - settings.n_updates * settings.num_envs * settings.steps_per_env < (
        settings.num_envs * settings.steps_per_env
    )


def test_the_zoos_networks_reach_sb3_as_its_policy_kwargs():
    pytest.importorskip("torch")
    import torch

    hopper = compare.make_tasks(False)["Hopper-v5"]
    kwargs = compare.peer_policy_kwargs(hopper.zoo, "stable-baselines3")
    assert kwargs == {
        "log_std_init": -2.0,
        "ortho_init": False,
        "activation_fn": torch.nn.ReLU,
        "net_arch": {"pi": [256, 256], "vf": [256, 256]},
    }
    assert compare.peer_policy_kwargs(compare.make_tasks(False)["CartPole-v1"].zoo, "sbx") == {}
    policy = hopper.ours["policy"]
    assert (policy["hidden"], policy["activation"], policy["initialization"]) == (
        [256, 256],
        "relu",
        "uniform",
    )
    assert policy["log_std0"] == -2.0
