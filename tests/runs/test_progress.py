"""The progress display: units, rates and the named running mean."""

import numpy as np


def test_progress_times_a_line_from_the_report_before_its_first(monkeypatch):
    """A compiled curve's first report covers a whole chunk: its rate must count that time."""
    from rich.console import Console

    import gradlogpi.runs.progress as progress_module
    from gradlogpi.algorithms.common import EpisodeEnd

    clock = iter([0.0, 2.0, 3.0])  # display starts; curve A reports at 2 s; curve B at 3 s
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    display = progress_module.EpisodeProgress(Console(quiet=True), total=10, disable=True)
    report = EpisodeEnd(4, np.zeros((1, 5)), np.full((1, 5), 100), np.zeros((1, 5), bool), units=5)
    display.update("A", report)
    display.update("B", report)
    assert display.lines["A"].start == 0.0 and display.lines["B"].start == 2.0


def test_a_resumed_run_counts_on_from_its_checkpoint(tmp_path):
    """After `--resume` the display goes on from the units the checkpoint covers, to the total."""
    import io

    from rich.console import Console

    from gradlogpi.algorithms.common import EpisodeEnd
    from gradlogpi.runs.config import load_config
    from gradlogpi.runs.progress import EpisodeProgress
    from gradlogpi.runs.train import train, units_done

    config = load_config(
        "configs/cartpole_steps.toml", {"hyperparameters.n_updates": 5, "checkpoint_every": 3}
    )
    train(config, tmp_path)
    assert units_done(tmp_path) == 5  # the final checkpoint covers every update
    assert units_done(tmp_path / "nowhere") == 0
    text = io.StringIO()
    display = EpisodeProgress(Console(file=text), total=10, unit="updates", every=1, already=6)
    with display:
        display.update_episode(EpisodeEnd(6, np.ones(2), np.ones(2), np.zeros(2, bool)))
    assert "updates 7/10" in text.getvalue()


def test_the_progress_line_shows_the_time_spent_in_evaluations(tmp_path):
    """With eval_every, training tells the display each evaluation's seconds; the line shows them."""
    import io

    from rich.console import Console

    from gradlogpi.runs.config import load_config
    from gradlogpi.runs.progress import EpisodeProgress
    from gradlogpi.runs.train import train

    config = load_config(
        "configs/cartpole_steps.toml",
        {"hyperparameters.n_updates": 4, "eval_every": 2, "evaluation_episodes": 2},
    )
    text = io.StringIO()
    display = EpisodeProgress(Console(file=text), total=4, unit="updates", every=1)
    seconds = []
    with display:
        train(
            config,
            tmp_path,
            callback=display.update_episode,
            on_evaluation=lambda s: (seconds.append(s), display.add_evaluation(s)),
        )
    assert len(seconds) == 2 and display.evaluation_seconds == sum(seconds) > 0
    assert "evaluations" not in text.getvalue().splitlines()[0]
    assert f"evaluations {sum(seconds):.1f} s" in text.getvalue().splitlines()[-1]
