"""`gradlogpi tune`: the [tune] table, a study that resumes in its database, killed workers,
pruning, best.toml, and the named errors.

The studies are tiny: REINFORCE on the short corridor for 30 episodes, evaluated every 10.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gradlogpi.errors import ConfigError, MissingExtraError, StudyError
from gradlogpi.runs.config import load_config
from gradlogpi.runs.tuning import TuneRequest, report, study_definition, tune

optuna = pytest.importorskip("optuna")


CONFIG = """
env = "gradlogpi/ShortCorridor-v0"
algorithm = "reinforce"
eval_every = 10
evaluation_episodes = 10
checkpoint_every = 10
[policy]
kind = "linear_softmax"
p_right0 = 0.3
[features]
kind = "corridor"
[hyperparameters]
n_episodes = 20
[tune]
startup_trials = 2
warmup_evaluations = 0
[tune.space]
SPACE
"""
SPACE = '"hyperparameters.alpha_theta" = {float = [1e-4, 1e-3], log = true}'


def config_file(tmp_path: Path, space: str = SPACE, name: str = "corridor.toml", **replace):
    text = CONFIG.replace("SPACE", space)
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def request(path: Path, tmp_path: Path, **changes) -> TuneRequest:
    settings = {"trials": 2, "seeds": 2, "fresh_seeds": 0, "quiet": True, **changes}
    return TuneRequest(path, "corridor", tmp_path / "study", **settings)


def trials_of(tmp_path: Path, name: str = "corridor"):
    storage = f"sqlite:///{tmp_path / 'study' / 'study.db'}"
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def states(trials) -> dict[int, str]:
    return {t.number: t.state.name for t in trials}


def dead_process_identity() -> str:
    """The identity (host:pid:start) of a process that has ended."""
    from gradlogpi.runs.tuning.trials import process_start

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    start = process_start(child.pid)
    child.wait()
    import socket

    return f"{socket.gethostname()}:{child.pid}:{start}"


# --- the [tune] table and the named errors (no training) --------------------------------


@pytest.mark.parametrize(
    ("space", "extra", "message"),
    [
        (
            SPACE,
            "[tune]\nsapce = 1",
            "unknown key `tune.sapce`; did you mean 'space'?",
        ),
        (
            '"hyperparameters.alpha_theta" = {float = [1e-4, 1e-2], lgo = true}',
            "",
            "`tune.space.hyperparameters.alpha_theta`: unknown key `lgo`; did you mean 'log'?",
        ),
        (
            '"hyperparameters.alpha_theta" = {float = [0.01, 0.001]}',
            "",
            "`tune.space.hyperparameters.alpha_theta`: `float` = [0.01, 0.001] is an empty range; "
            "expected low < high",
        ),
        (
            '"hyperparameters.alpha_theta" = {float = [0.0, 0.1], log = true}',
            "",
            "`log` = true needs low > 0; got `float` = [0.0, 0.1]",
        ),
        (
            '"hyperparameters.schedule" = {choices = []}',
            "",
            "`tune.space.hyperparameters.schedule`: `choices` = [] is empty",
        ),
        (
            '"hyperparameters.alpah" = {float = [1e-4, 1e-2]}',
            "",
            "`tune.space.hyperparameters.alpah`: 0.0001 (the low end) makes a config that is "
            "refused: unknown key `hyperparameters.alpah`",
        ),
        (
            '"hyperparameters.gamma" = {float = [0.5, 1.5]}',
            "",
            "`tune.space.hyperparameters.gamma`: 1.5 (the high end) makes a config that is refused",
        ),
        (
            '"seed" = {int = [0, 3]}',
            "",
            "`tune.space.seed`: `seed` is set by each trial itself",
        ),
    ],
)
def test_a_bad_tune_table_is_refused_by_name(tmp_path, space, extra, message):
    path = config_file(tmp_path, space)
    if extra:
        path.write_text(path.read_text().replace("[tune]\n", extra + "\n", 1))
    with pytest.raises(ConfigError, match=re.escape(message)):
        study_definition(path, {}, 2)


def test_a_config_without_tune_table_or_final_evaluation_is_refused(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text(CONFIG.split("[tune]")[0])
    with pytest.raises(ConfigError, match=re.escape(f"{path}: no [tune] table")):
        study_definition(path, {}, 2)
    with pytest.raises(ConfigError, match=re.escape("`evaluation_episodes` = 0, but")):
        study_definition(config_file(tmp_path), {"evaluation_episodes": 0}, 2)


def test_a_config_with_a_tune_table_still_trains_and_the_table_is_read(tmp_path):
    path = config_file(tmp_path, '"hyperparameters.schedule" = {choices = ["constant", "linear"]}')
    assert load_config(path).tune["space"]["hyperparameters.schedule"] == {
        "choices": ["constant", "linear"]
    }
    definition = study_definition(path, {"hyperparameters.n_episodes": 20}, 3)
    assert definition["seeds"] == [0, 1, 2]
    assert definition["config"]["hyperparameters"]["n_episodes"] == 20  # --set applies
    assert "tune" not in definition["config"]


@pytest.mark.parametrize(
    "storage",
    ["sqlite:////nonexistent-directory/deeper/study.db", "nosuchdatabase://host/db"],
)
def test_a_storage_that_cannot_be_opened_is_named(tmp_path, storage):
    with pytest.raises(StudyError, match=re.escape(f"`--storage` = {storage!r} cannot be opened")):
        tune(request(config_file(tmp_path), tmp_path, storage=storage))
    assert not (tmp_path / "study" / "trials").exists()


def test_a_changed_search_space_or_setting_is_refused_naming_the_difference(tmp_path):
    from gradlogpi.runs.tuning.study import default_storage, open_study

    path = config_file(tmp_path)
    (tmp_path / "study").mkdir()
    url = default_storage(tmp_path / "study")
    open_study(url, "corridor", study_definition(path, {}, 2))  # the study, no trials yet
    changed = config_file(
        tmp_path,
        '"hyperparameters.alpha_theta" = {float = [1e-5, 1e-2], log = true}\n'
        '"hyperparameters.schedule" = {choices = ["constant", "linear"]}',
        "changed.toml",
    )
    with pytest.raises(StudyError) as raised:
        tune(request(changed, tmp_path))
    message = str(raised.value)
    assert "its search space changed" in message
    assert (
        "`hyperparameters.alpha_theta` was float [0.0001, 0.001] log, now float [1e-05, 0.01] log"
        in message
    )
    assert "`hyperparameters.schedule` is new (choices ['constant', 'linear'])" in message
    with pytest.raises(
        StudyError,
        match=re.escape(
            "the settings every trial shares changed: `hyperparameters.n_episodes` was 20, now 10"
        ),
    ):
        tune(request(path, tmp_path, overrides={"hyperparameters.n_episodes": 10}))
    with pytest.raises(StudyError, match=re.escape("its seeds were [0, 1], now [0, 1, 2]")):
        tune(request(path, tmp_path, seeds=3))
    assert trials_of(tmp_path) == []  # nothing ran


def test_without_optuna_the_extra_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(MissingExtraError, match=re.escape('pip install "gradlogpi[tune]"')):
        tune(request(config_file(tmp_path), tmp_path))


def test_report_of_a_missing_study_is_named(tmp_path):
    with pytest.raises(StudyError, match="holds no study database"):
        report("corridor", tmp_path / "nowhere")


# --- studies ------------------------------------------------------------------------------


NO_PRUNING = {"startup_trials = 2": "startup_trials = 10"}


def test_a_study_in_two_workers_resumes_and_a_dead_workers_trial_is_failed_not_lost(tmp_path):
    path = config_file(tmp_path, **NO_PRUNING)
    first = tune(request(path, tmp_path, trials=2, workers=2, seeds=1))
    trials = trials_of(tmp_path)
    assert len(trials) == 2  # workers take turns to ask: the count is not overshot
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert first.counts["complete"] == len(trials) and first.best is not None
    for t in trials:
        run = tmp_path / "study" / t.user_attrs["directory"] / "seed_0"
        summary = json.loads((run / "evaluation.json").read_text())  # a normal run directory
        assert summary["final"][0]["mean_return"] == t.value == t.user_attrs["seed_returns"]["0"]
    before = states(trials)

    # a worker of an earlier run was killed mid-trial: its trial is still "running"
    study = optuna.load_study(study_name="corridor", storage=first.storage)
    distribution = optuna.distributions.FloatDistribution(1e-4, 1e-3, log=True)
    orphan = study.ask({"hyperparameters.alpha_theta": distribution})
    orphan.set_user_attr("process", dead_process_identity())

    second = tune(request(path, tmp_path, trials=len(trials) + 1, workers=2, seeds=1))
    after = trials_of(tmp_path)
    assert {n: s for n, s in states(after).items() if n in before} == before  # nothing lost
    assert states(after)[orphan.number] == "FAIL"  # failed, kept, and its setting retried:
    (retry,) = [t for t in after if t.system_attrs.get("failed_trial") == orphan.number]
    assert retry.state.name == "COMPLETE"
    assert retry.params == after[orphan.number].params
    assert second.counts["counted"] == len(after) - 1 == 3  # the failed try is not counted
    assert second.counts["retried"] == 1
    assert second.storage == first.storage


def test_a_worker_killed_mid_trial_is_retried_from_its_checkpoints(tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    monkeypatch.setenv("GRADLOGPI_TUNE_FAULT_KILL_ONCE", str(marker))
    path = config_file(tmp_path, **NO_PRUNING)
    outcome = tune(request(path, tmp_path, trials=2, workers=2, seeds=1))
    assert marker.exists()  # a worker did die
    trials = trials_of(tmp_path)
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert failed, "the killed worker's trial is kept, marked failed"
    for dead in failed:
        (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
        assert retry.state.name == "COMPLETE"
        assert retry.user_attrs["directory"] == dead.user_attrs["directory"]  # resumed there
        run = tmp_path / "study" / retry.user_attrs["directory"] / "seed_0"
        assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 20  # every episode
    assert outcome.counts["counted"] == outcome.counts["complete"] == 2
    # the study stays usable
    monkeypatch.delenv("GRADLOGPI_TUNE_FAULT_KILL_ONCE")
    again = tune(request(path, tmp_path, trials=outcome.counts["counted"] + 1, seeds=1))
    assert again.counts["counted"] == outcome.counts["counted"] + 1
    assert again.counts["complete"] == outcome.counts["complete"] + 1


def test_the_median_pruner_stops_bad_settings_at_their_evaluations(tmp_path):
    path = config_file(
        tmp_path,
        '"hyperparameters.alpha_theta" = {float = [1e-7, 1e-1], log = true}',
        **{"p_right0 = 0.3": "p_right0 = 0.05", "n_episodes = 20": "n_episodes = 40"},
    )
    outcome = tune(request(path, tmp_path, trials=5, seeds=2))
    trials = trials_of(tmp_path)
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned and outcome.counts["pruned"] == len(pruned)
    for t in trials:
        if t.state.name == "COMPLETE":  # the value: the mean of the seeds' final evaluations
            seeds = t.user_attrs["seed_returns"]
            assert set(seeds) == {"0", "1"}
            assert t.value == pytest.approx(sum(seeds.values()) / 2)
    for t in pruned:
        run = tmp_path / "study" / t.user_attrs["directory"]
        metrics = run / "seed_0" / "metrics.csv"
        if metrics.exists():  # stopped at an evaluation: fewer episodes than asked
            assert len(metrics.read_text().splitlines()) - 1 < 40
        assert not (run / "seed_1").exists() or not (run / "seed_1" / "evaluation.json").exists()
        evaluations = [
            line.split(",")
            for line in (run / "seed_0" / "evaluations.csv").read_text().splitlines()[1:]
        ]
        reported = dict(t.intermediate_values)
        # fed by the run's own eval_every evaluations, in order
        assert [float(row[6]) for row in evaluations if row[3] == "periodic"] == [
            reported[step] for step in sorted(reported)
        ]


@pytest.mark.slow
def test_ray_workers_share_the_study(tmp_path):
    ray = pytest.importorskip("ray")
    path = config_file(tmp_path, **NO_PRUNING)
    try:
        outcome = tune(request(path, tmp_path, trials=3, workers=2, seeds=1, ray=True))
    finally:
        ray.shutdown()
    assert outcome.counts["complete"] == outcome.counts["counted"] == 3
    pids = {t.user_attrs["process"].split(":")[1] for t in trials_of(tmp_path)}
    assert str(os.getpid()) not in pids  # the trials ran in Ray's worker processes


def test_a_setting_gradlogpi_gained_since_the_study_began_is_no_change_at_its_default():
    """A study made before `policy.squash` existed continues; a squash turned on does not."""
    from gradlogpi.runs.tuning.study import check_definition

    stored = {
        "space": {},
        "seeds": [0],
        "settings": {"startup_trials": 5, "warmup_evaluations": 2},
        "config": {"env": "CartPole-v1", "policy": {"kind": "neural_gaussian"}},
    }
    current = json.loads(json.dumps(stored))
    current["config"]["policy"]["squash"] = False  # the new setting at its default
    check_definition(stored, current, "study", "sqlite://")
    current["config"]["policy"]["squash"] = True
    with pytest.raises(StudyError, match=re.escape("`policy.squash` was None, now True")):
        check_definition(stored, current, "study", "sqlite://")


def test_a_neural_gaussian_study_from_before_log_std_keeps_its_bounded_trials():
    """A definition without `policy.log_std` trained the bounded log σ: continuing it with
    the free default is refused by name; asking for the bounded form continues it, and its
    trials get that form."""
    from gradlogpi.runs.tuning.study import check_definition
    from gradlogpi.runs.tuning.trials import trial_config

    config = {"env": "Pendulum-v1", "policy": {"kind": "neural_gaussian"}}
    stored = {
        "space": {},
        "seeds": [0],
        "settings": {"startup_trials": 5, "warmup_evaluations": 2},
        "config": config,
    }
    assert trial_config(stored, {}, 0).policy.log_std == "bounded"
    current = json.loads(json.dumps(stored))
    current["config"]["policy"]["log_std"] = None  # today's definitions write every key
    with pytest.raises(StudyError, match=re.escape("`policy.log_std` was 'bounded', now None")):
        check_definition(stored, current, "study", "sqlite://")
    current["config"]["policy"]["log_std"] = "bounded"
    check_definition(stored, current, "study", "sqlite://")
    assert trial_config(current, {}, 0).policy.log_std == "bounded"
