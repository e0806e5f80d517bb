"""`experiment cartpole` keeps each finished seed: a re-run reuses them; Ctrl-C says what was kept."""

import tomllib
from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture
def tiny(tmp_path):
    settings = tomllib.loads((CONFIGS / "cartpole_linear.toml").read_text())
    settings["hyperparameters"].update(n_updates=2, steps_per_env=16)
    config = tmp_path / "tiny.toml"
    config.write_text(tomli_w.dumps(settings))
    return config


def study(config, out):
    from gradlogpi.cli.app import app

    args = ["experiment", "cartpole", "--config", str(config), "--seeds", "2", "--out", str(out)]
    return CliRunner().invoke(app, [*args, "--quiet"])


def test_a_second_run_reuses_the_finished_seeds(tiny, tmp_path, monkeypatch):
    import gradlogpi.experiments.cartpole as cartpole

    out = tmp_path / "study"
    first = study(tiny, out)
    assert first.exit_code == 0, first.output
    kept = {path.name: path.read_bytes() for path in (out / "seeds").iterdir()}
    assert sorted(kept) == ["seed_0.json", "seed_1.json"]
    csv = (out / "cartpole.csv").read_text()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished seed was trained again")

    monkeypatch.setattr(cartpole, "solve", no_training)
    again = study(tiny, out)
    assert again.exit_code == 0, again.output
    assert "reusing 2 of 2 seeds" in again.output
    assert {path.name: path.read_bytes() for path in (out / "seeds").iterdir()} == kept
    assert (out / "cartpole.csv").read_text() == csv


def test_ctrl_c_keeps_the_finished_seeds_and_a_rerun_trains_the_rest(tiny, tmp_path, monkeypatch):
    import gradlogpi.experiments.cartpole as cartpole

    real = cartpole.solve
    trained = []

    def interrupted_on_seed_1(config, seed, *args, **kwargs):
        if seed == 1:
            raise KeyboardInterrupt
        return real(config, seed, *args, **kwargs)

    out = tmp_path / "study"
    monkeypatch.setattr(cartpole, "solve", interrupted_on_seed_1)
    stopped = study(tiny, out)
    assert stopped.exit_code == 130
    assert "interrupted: kept seeds 0 in" in stopped.output
    assert (
        f"continue with: gradlogpi experiment cartpole --config {tiny} --seeds 2" in stopped.output
    )
    assert [path.name for path in (out / "seeds").iterdir()] == ["seed_0.json"]

    def counted(config, seed, *args, **kwargs):
        trained.append(seed)
        return real(config, seed, *args, **kwargs)

    monkeypatch.setattr(cartpole, "solve", counted)
    resumed = study(tiny, out)
    assert resumed.exit_code == 0, resumed.output
    assert "reusing 1 of 2 seeds" in resumed.output and trained == [1]
    rows = (out / "cartpole.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1"]


def test_a_changed_config_trains_again(tiny, tmp_path):
    from gradlogpi.experiments.cartpole import SolveOutcome, keep_seed, kept_seed, study_key

    outcome = SolveOutcome(0, False, 3, 40, 20.0, 9.0, 0.1)
    keep_seed(tmp_path, study_key(tiny, False), outcome, [1.0, 2.0])
    assert kept_seed(tmp_path, study_key(tiny, False), 0)[0] == outcome
    assert kept_seed(tmp_path, study_key(tiny, True), 0) is None
    tiny.write_text(tiny.read_text() + "\n# changed\n")
    assert kept_seed(tmp_path, study_key(tiny, False), 0) is None


def test_the_overall_line_counts_seeds_with_a_time_left(monkeypatch):
    import io

    import numpy as np
    from rich.console import Console

    import gradlogpi.runs.progress as progress_module
    from gradlogpi.algorithms.common import EpisodeEnd

    now = [0.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: now[0])
    text = io.StringIO()
    display = progress_module.StudyProgress(Console(file=text), total=2, items=3, reused=1)
    callback = display.begin(5)
    now[0] = 10.0
    callback(EpisodeEnd(0, np.ones(1), np.ones(1), np.zeros(1, bool)))
    # 1 unit in 10 s; 3 units left (this seed's other one and the third seed's two): 30 s
    assert display.time_left() == pytest.approx(30.0)
    display.finish()
    assert "seeds: 2 of 3 finished" in text.getvalue()
