"""`gradlogpi` subcommands."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

if not sys.stdout.isatty():
    # piped help (`gradlogpi train --help | less`, docs/cli.md) is not cut at 80 columns;
    # Typer reads this when it is imported
    os.environ.setdefault("TERMINAL_WIDTH", "160")

import numpy as np
import typer
import typer.core
from rich.console import Console
from rich.table import Table

from gradlogpi.runs.choices import listed
from gradlogpi.runs.feature_kinds import FEATURE_KINDS
from gradlogpi.runs.policy_kinds import POLICY_KINDS

POLICY_HELP = f"Policy kind: {listed(list(POLICY_KINDS), quote=False)}"
FEATURES_HELP = f"Feature kind: {listed(list(FEATURE_KINDS), quote=False)}"


class NamedErrors(typer.core.TyperGroup):
    """Any gradlogpi error or filesystem refusal a command lets through ends in one line.

    Commands name their own errors; this is the net under them, so a path that turns out
    to be a file, a full disk or a permission never ends in a traceback (exit 2).
    """

    def invoke(self, ctx: Any) -> Any:
        from gradlogpi.errors import GradlogpiError

        try:
            return super().invoke(ctx)
        except GradlogpiError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            typer.echo(f"error: {where}{(error.strerror or str(error)).lower()}", err=True)
            raise typer.Exit(2) from None
        except (MemoryError, RuntimeError) as error:  # a size no check before it foresaw
            if isinstance(error, RuntimeError) and "can't allocate memory" not in str(error):
                raise  # PyTorch's allocator says so in a RuntimeError; any other is a bug
            said = f" ({error})" if str(error) else ""
            typer.echo(
                f"error: out of memory{said}; lower the sizes asked for (episodes, runs, seeds, "
                "sub-environments, hidden layers)",
                err=True,
            )
            raise typer.Exit(2) from None


app = typer.Typer(
    name="gradlogpi",
    cls=NamedErrors,
    help="Exact score functions ∇θ log π(a|s) and the policy-gradient algorithms built on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
experiment_app = typer.Typer(help="Published experiments, reproduced.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


def print_version(given: bool) -> None:
    if given:
        from gradlogpi import __version__

        typer.echo(f"gradlogpi {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Exact score functions ∇θ log π(a|s) and the policy-gradient algorithms built on them."""
    warnings.formatwarning = one_line_warning


def one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """A warning as the command's user reads it: one line, without the library's source."""
    return f"warning: {message}\n"


def console(quiet: bool = False) -> Console:
    # piped output gets a wide console, so tables are not cut to 80 columns
    width = None if sys.stdout.isatty() else 160
    return Console(quiet=quiet, highlight=False, markup=False, width=width)


@experiment_app.command("sutton-barto")
def sutton_barto(
    figure: Annotated[str, typer.Option(help="Which figure: 13.1 or 13.2.")] = "13.1",
    runs: Annotated[int, typer.Option(min=1, help="Independent runs per curve.")] = 100,
    episodes: Annotated[int, typer.Option(min=1, help="Episodes per run.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the whole experiment.")] = 0,
    out: Annotated[Path, typer.Option(help="Directory for the CSV and the PNG.")] = Path("results"),
    quiet: Annotated[bool, typer.Option(help="Print only the output paths.")] = False,
) -> None:
    """Reproduce Sutton & Barto Figure 13.1 or 13.2 on the short corridor: CSV + PNG."""
    from gradlogpi.errors import GradlogpiError
    from gradlogpi.experiments import sutton_barto as book
    from gradlogpi.runs.limits import check_run_records
    from gradlogpi.runs.progress import EpisodeProgress

    if figure not in book.FIGURES:
        raise typer.BadParameter(
            f"must be one of {', '.join(book.FIGURES)}; got {figure!r}", param_hint="--figure"
        )
    n_curves = 3 if figure == "13.1" else 2  # every curve's runs are kept for the table
    try:
        check_run_records("runs", runs, runs * n_curves, 0)
        check_run_records("episodes", episodes, runs * n_curves, episodes)
    except GradlogpiError as refused:
        fail(refused)
    out_console = console(quiet)
    make = book.figure_13_1 if figure == "13.1" else book.figure_13_2
    with EpisodeProgress(out_console, total=episodes, disable=quiet) as progress:
        curves = make(runs=runs, episodes=episodes, seed=seed, callback=progress.update)
    csv_path, png_path = book.write_figure(figure, curves, out)
    table = Table(
        title=f"Figure {figure}: mean over runs of each run's mean return in the last 10% of "
        "episodes (collapsed runs left out)",
        show_lines=False,
    )
    for column in ("curve", "mean return", "± s.e.", "π(right) learned", "collapsed runs"):
        table.add_column(column)
    for curve in curves:
        stats = curve.statistics()
        mean, error = curve.window_mean(episodes - max(1, episodes // 10) + 1, episodes)
        p_right = curve.final_p_right()
        table.add_row(
            curve.label,
            f"{mean:.2f}",
            f"{error:.2f}",
            f"{p_right.mean():.3f}",
            str(int(stats["truncated_runs"][-1])),
        )
    out_console.print(table)
    out_console.print(
        f"optimum: p* = 2 − √2 = {book.OPTIMAL_P_RIGHT:.4f}, "
        f"v* = −(6 + 4√2) = {book.OPTIMAL_VALUE:.3f}"
    )
    typer.echo(f"wrote {csv_path} and {png_path}")


@experiment_app.command("estimators")
def estimators_experiment(
    env: Annotated[
        str,
        typer.Option(
            help="A finite MDP: gradlogpi/ShortCorridor-v0, gradlogpi/GridWorld-v0, "
            "FrozenLake-v1, CliffWalking-v1, Taxi-v4; or gradlogpi/LQR-v0 (a linear Gaussian "
            "policy at half the Riccati gain, exact by Lyapunov recursions)."
        ),
    ] = "gradlogpi/ShortCorridor-v0",
    gamma: Annotated[float, typer.Option(min=0.0, max=1.0, help="Discount γ.")] = 1.0,
    episodes: Annotated[int, typer.Option(min=2, help="Episodes drawn at θ.")] = 10_000,
    p_right: Annotated[float, typer.Option(help="Short corridor: the policy's π(right).")] = 0.5,
    theta_scale: Annotated[
        float, typer.Option(min=0.0, help="Other MDPs: θ ~ N(0, scale²) of a tabular softmax.")
    ] = 0.5,
    seed: Annotated[int, typer.Option(min=0, help="Seed of θ and of the episodes.")] = 0,
    out: Annotated[
        Path,
        typer.Option(
            help="Directory for estimators.csv, estimators.png, errors.png and directions.csv."
        ),
    ] = Path("results/estimators"),
) -> None:
    """Every policy-gradient estimator against the exact ∇J of the policy-gradient theorem."""
    from gradlogpi.errors import GradlogpiError
    from gradlogpi.experiments.estimators import check_lab, describe, run_lab, write_lab

    try:
        lab = run_lab(env, gamma, episodes, seed, {"p_right": p_right, "theta_scale": theta_scale})
        check_lab(lab, episodes)
    except (GradlogpiError, ValueError) as error:
        fail(error)
    exact, reports = lab.exact, lab.reports
    out_console = console()
    out_console.print(f"{lab.setting}\n{describe(exact)}")
    table = Table(
        title=f"{episodes} episodes at one θ: each estimator's mean against ∇J",
        caption="largest |z|: the largest error of a component of the mean, in its standard "
        "errors; χ: the whole error's length in its own standard errors. In brackets: what "
        "an unbiased estimator exceeds by chance in at most 1 study in 1000 (|z| of 1 to 3 "
        "is ordinary noise); above it, the mean differs from ∇J by more than its noise.",
    )
    for column in ("estimator", "expected", "largest |z| (by chance <)", "χ (by chance <)",
                   "variance (trace)", "cosine to ∇J"):  # fmt: skip
        table.add_column(column)
    for report in reports:
        table.add_row(
            report.name,
            "unbiased" if report.unbiased else "biased",
            f"{report.bias_in_standard_errors:.2f} ({report.threshold:.2f})",
            f"{report.chi:.2f} ({report.chi_threshold:.2f})",
            f"{report.variance_trace:.4g}",
            f"{report.cosine:.4f}",
        )
    out_console.print(table)
    if lab.directions:
        first = lab.directions[0]
        directions = Table(
            title=f"First-step directions over {first.n_batches} batches of "
            f"{first.batch_episodes} episodes (angles in degrees)"
        )
        for column in ("direction", "against", "angle of the mean", "noise alone", "per batch"):
            directions.add_column(column)
        for direction in lab.directions:
            directions.add_row(
                direction.name, direction.target, f"{direction.angle:.2f}",
                f"{direction.noise_angle:.2f}", f"{direction.median_batch_angle:.2f}",
            )  # fmt: skip
        out_console.print(directions)
    paths = write_lab(out, f"{env}, γ = {gamma}", exact, reports, lab.directions)
    typer.echo("wrote " + ", ".join(str(path) for path in paths))


@experiment_app.command("cartpole")
def cartpole_experiment(
    config: Annotated[
        Path, typer.Option("--config", help="Training config, e.g. configs/cartpole_linear.toml.")
    ],
    seeds: Annotated[
        int, typer.Option(min=1, help="How many seeds: first-seed … first-seed+N−1.")
    ] = 5,
    first_seed: Annotated[int, typer.Option(min=0, help="The first seed.")] = 0,
    stop_when_solved: Annotated[
        bool,
        typer.Option(
            help="Stop each seed at the first policy that solves (measures episodes to solve)."
        ),
    ] = False,
    out: Annotated[
        Path,
        typer.Option(
            help="Directory for cartpole.csv, cartpole.png/.svg and summary.md; seeds/ keeps "
            "each finished seed, so running the command again continues where it stopped."
        ),
    ] = Path("results/cartpole"),
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """CartPole-v1 solved? Each seed's final policy (≥ 475 over 100 fresh evaluation episodes)."""
    from gradlogpi.errors import GradlogpiError
    from gradlogpi.experiments import cartpole as study
    from gradlogpi.runs.config import load_config
    from gradlogpi.runs.progress import StudyProgress, interrupted

    try:
        settings = load_config(config)
        study.check_study(settings, config, first_seed, seeds)
    except GradlogpiError as error:
        fail(error)
    spec = settings.algorithm_spec()
    out_console = console(quiet)
    outcomes, curves = [], []
    table = Table(title=f"CartPole-v1 with {config}: the final policy of each seed")
    for column in ("seed", "solved", "evaluation return", "episodes", "steps", "seconds"):
        table.add_column(column)
    total = spec.total(settings.algorithm_config())
    wanted = range(first_seed, first_seed + seeds)
    key = study.study_key(config, stop_when_solved)
    kept = {seed: study.kept_seed(out, key, seed) for seed in wanted}
    reused = sum(found is not None for found in kept.values())
    if reused:
        typer.echo(f"reusing {reused} of {seeds} seeds already finished in {out / 'seeds'}")
    again = shlex.join(
        ["gradlogpi", "experiment", "cartpole", "--config", str(config), "--seeds", str(seeds)]
        + ["--first-seed", str(first_seed), "--out", str(out)]
        + (["--stop-when-solved"] if stop_when_solved else [])
    )

    def kept_now() -> str:
        finished = [str(seed) for seed in wanted if kept[seed] is not None]
        return (
            f"kept seeds {', '.join(finished)} in {out / 'seeds'}"
            if finished
            else ("no seed finished")
        )

    with (
        interrupted(kept_now, again),
        StudyProgress(
            out_console, total, seeds, reused=reused, unit=spec.unit, disable=quiet
        ) as progress,
    ):
        for seed in wanted:
            found = kept[seed]
            if found is None:
                found = study.solve(config, seed, stop_when_solved, callback=progress.begin(seed))
                study.keep_seed(out, key, *found)
                kept[seed] = found
                progress.finish()
            outcome, returns = found
            outcomes.append(outcome)
            curves.append(returns)
            table.add_row(
                str(seed),
                "yes" if outcome.solved else "no",
                f"{outcome.evaluation_return:.1f}",
                str(outcome.episodes),
                str(outcome.steps),
                f"{outcome.wall_time:.1f}",
            )
    out_console.print(table)
    result = study.summary(outcomes)
    typer.echo(
        f"solved {result['solved']}/{result['seeds']}; median training episodes of the solved: "
        f"{result['median_episodes']:.0f}, steps {result['median_steps']:.0f}"
    )
    paths = study.write_study(outcomes, curves, f"CartPole-v1, {config.name}", out)
    typer.echo("wrote " + ", ".join(str(path) for path in paths))


@app.command("sweep")
def sweep_command(
    sweep: Annotated[
        Path, typer.Argument(help="Sweep TOML: base config, seeds and a grid of values.")
    ],
    out: Annotated[Path, typer.Option(help="Directory of the members' run directories.")] = Path(
        "sweeps/sweep"
    ),
    workers: Annotated[int, typer.Option(min=1, help="Local worker processes.")] = 1,
    backend: Annotated[str, typer.Option(help="local (processes) or ray.")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: a local Ray instance).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Run a grid of configs × seeds; completed members are kept, so running it again continues."""
    import matplotlib.pyplot as plt

    from gradlogpi.errors import GradlogpiError
    from gradlogpi.runs.files import save_figure
    from gradlogpi.runs.metrics import read_returns
    from gradlogpi.runs.plots import curve_statistics, plot_curves
    from gradlogpi.runs.progress import StudyProgress, interrupted
    from gradlogpi.runs.sweep import member_config, plan_sweep, run_plan, summarise

    try:
        plan = plan_sweep(sweep, out)
        first = member_config(plan.base_path, plan.base_table, plan.members[0])
    except GradlogpiError as error:
        fail(error)
    spec = first.algorithm_spec()
    reused = len(plan.members) - len(plan.pending)
    if reused:
        typer.echo(f"reusing {reused} of {len(plan.members)} members already finished in {out}")
    again = shlex.join(
        ["gradlogpi", "sweep", str(sweep), "--out", str(out), "--workers", str(workers)]
        + ["--backend", backend]
        + (["--address", address] if address else [])
    )

    def kept_now() -> str:
        done = len(plan.done())
        return f"kept {done} of {len(plan.members)} members (each with done.json) in {out}"

    try:
        with (
            interrupted(kept_now, again),
            StudyProgress(
                console(quiet),
                spec.total(first.algorithm_config()),
                len(plan.members),
                reused=reused,
                unit=spec.unit,
                disable=quiet,
                noun="member",
            ) as progress,
        ):

            def begin(member: Any) -> tuple[Any, Any]:
                return progress.begin(member.name), progress.add_evaluation

            summaries = run_plan(
                plan,
                workers=workers,
                backend=backend,
                address=address,
                begin=begin,
                finished=lambda member: progress.finish(),
            )
    except GradlogpiError as error:
        fail(error)
    table = Table(title=f"Sweep {sweep}: final mean return across seeds")
    for column in ("grid point", "seeds", "mean", "± s.e."):
        table.add_column(column)
    rows = summarise(summaries)
    for row in rows:
        label = ", ".join(f"{k}={v}" for k, v in row["point"]) or "base"
        table.add_row(
            label, str(row["seeds"]), f"{row['mean']:.2f}", f"{row['standard_error']:.2f}"
        )
    console().print(table)
    curves = []
    for row in rows:
        names = [m.name for m in plan.members if [list(p) for p in m.point] == row["point"]]
        returns = np.concatenate([read_returns(out / name / "metrics.csv") for name in names])
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in row["point"]) or "base"
        curves.append((label, curve_statistics(returns)))
    figure = plot_curves(curves, title=f"Sweep {sweep.name}", ylabel="Return")
    save_figure(figure, out / "comparison.png", dpi=100)
    save_figure(figure, out / "comparison.svg")
    plt.close(figure)
    typer.echo(f"sweep directory: {out}")


@app.command("tune")
def tune_command(
    config: Annotated[
        Path | None,
        typer.Argument(help=r"Training config with a \[tune] table: the search space."),
    ] = None,
    trials: Annotated[
        int,
        typer.Option(
            min=1,
            help="End when the study holds this many trials (earlier runs of the command and "
            "every worker count); run again with more to continue it.",
        ),
    ] = 20,
    study: Annotated[
        str | None, typer.Option(help="Study name (default: the config's file name).")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage: an RDB URL (sqlite:///PATH, postgresql://…) or journal:PATH "
            "(default: sqlite in the study directory)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Study directory: trials' runs, best.toml, plots (default studies/NAME)."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Trials at once: local processes, or Ray tasks.")
    ] = 1,
    seeds: Annotated[
        int, typer.Option(min=1, help="Seeds per trial; its value is their mean final evaluation.")
    ] = 3,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override any key for every trial, e.g. --set eval_every=10"),
    ] = None,
    ray: Annotated[
        bool, typer.Option(help="Run the workers as Ray tasks (also when RAY_ADDRESS is set).")
    ] = False,
    fresh_seeds: Annotated[
        int,
        typer.Option(min=0, help="Then re-run the best setting on this many unused seeds (0: no)."),
    ] = 10,
    solved_at: Annotated[
        float | None,
        typer.Option(
            help="A fresh seed counts as solved at this final evaluation (default: the env's "
            "reward_threshold)."
        ),
    ] = None,
    report: Annotated[
        bool, typer.Option(help="Only print the study's report again (and rewrite its files).")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No line per trial.")] = False,
) -> None:
    r"""Search a config's \[tune] space with Optuna (TPE, median pruning on eval_every
    evaluations); the study is kept in a database and resumes when run again (extra
    gradlogpi\[tune])."""
    from gradlogpi.errors import GradlogpiError
    from gradlogpi.runs.tuning import TuneRequest, tune
    from gradlogpi.runs.tuning import report as study_report

    if study is None and config is None:
        fail(ValueError("give CONFIG or --study NAME (a study is named after its config)"))
        return
    name = study if study is not None else Path(str(config)).stem
    directory = out if out is not None else Path("studies") / name
    try:
        if report:
            outcome = study_report(name, directory, storage)
        elif config is None:
            fail(ValueError("`CONFIG` is needed to run a study (--report needs only --study)"))
        else:
            request = TuneRequest(
                config, name, directory, storage, parse_overrides(set_ or []), trials, seeds,
                workers, ray, fresh_seeds, solved_at, quiet,
            )  # fmt: skip
            outcome = tune(request)
    except GradlogpiError as error:
        fail(error)
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted: study {name!r} keeps its trials (the interrupted ones are queued "
            "again); run the command again to continue it",
            err=True,
        )
        raise typer.Exit(130) from None
    console().print(outcome.table())
    for line in outcome.lines():
        typer.echo(line)


def parse_overrides(values: list[str]) -> dict[str, Any]:
    """--set key=value pairs, values parsed as TOML (strings may be bare)."""
    import tomllib

    overrides: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise typer.BadParameter(f"must look like key=value; got {item!r}", param_hint="--set")
        key, raw = item.split("=", 1)
        try:
            overrides[key.strip()] = tomllib.loads(f"value = {raw}")["value"]
        except tomllib.TOMLDecodeError:
            overrides[key.strip()] = raw
    return overrides


def flag_overrides(overrides: dict[str, Any], flags: dict[str, Any]) -> dict[str, str]:
    """Put the given flags' values into `overrides` (a flag wins over `--set` of its key).

    `flags` maps a flag to its value ({"--algorithm": "ppo"}, None where not given); returns
    each set key's flag ({"algorithm": "--algorithm"}), so errors name the flag typed.
    """
    origins = {}
    for flag, value in flags.items():
        if value is not None:
            overrides[FLAG_KEYS[flag]] = value
            origins[FLAG_KEYS[flag]] = flag
    return origins


FLAG_KEYS = {
    "--env": "env",
    "--algorithm": "algorithm",
    "--policy": "policy.kind",
    "--features": "features.kind",
    "--runs": "runs",
    "--seed": "seed",
}


def named_flag(error: Exception, origins: dict[str, str]) -> Exception:
    """`error` prefixed with the flag that gave the value it is about ("`env` = ..." from
    --env), as `load_config` names flags for the errors it finds itself."""
    for key, flag in origins.items():
        if str(error).startswith(f"`{key}` = "):
            return type(error)(f"{flag}: {error}")
    return error


def fail(error: Exception) -> None:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(2)


@app.command("train")
def train_command(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML config file (flags override it).")
    ] = None,
    env: Annotated[str | None, typer.Option(help="Gymnasium environment id.")] = None,
    algorithm: Annotated[
        str | None,
        typer.Option(
            help="A registered algorithm (`gradlogpi algorithms` lists them and their settings)."
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(help=f"{POLICY_HELP}; `gradlogpi algorithms` describes each."),
    ] = None,
    features: Annotated[
        str | None,
        typer.Option(help=f"{FEATURES_HELP}; `gradlogpi algorithms` describes each."),
    ] = None,
    runs: Annotated[int | None, typer.Option(min=1, help="Independent runs.")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed of the whole run.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override any key, e.g. --set hyperparameters.alpha_theta=0.01"),
    ] = None,
    run_dir: Annotated[
        str | None,
        typer.Option(help="Run directory (default runs/<env>__<algorithm>__<seed>__<time>)."),
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run directory from its last checkpoint.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the run already in --run-dir (only a run's files).")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Train a policy; the last line printed names the run directory."""
    from gradlogpi.errors import GradlogpiError
    from gradlogpi.runs.config import load_config, load_run_config
    from gradlogpi.runs.progress import EpisodeProgress
    from gradlogpi.runs.train import default_run_dir, train, units_done
    from gradlogpi.runs.train import resume as resume_run

    if resume is not None:
        given = {
            "--config": config, "--env": env, "--algorithm": algorithm, "--policy": policy,
            "--features": features, "--runs": runs, "--seed": seed, "--set": set_ or None,
            "--run-dir": run_dir, "--overwrite": overwrite or None,
        }  # fmt: skip
        conflicting = [name for name, value in given.items() if value is not None]
        if conflicting:
            fail(
                ValueError(
                    f"--resume continues {resume} exactly as configured in its config.toml; "
                    f"{', '.join(conflicting)} cannot change it (train a new run instead)"
                )
            )
        if not resume.is_dir():
            fail(ValueError(f"--resume {resume}: no such run directory"))
        if not (resume / "config.toml").exists():
            fail(ValueError(f"--resume {resume}: not a run directory (no config.toml)"))
        try:
            settings = load_run_config(resume)
            out = console(quiet)
            spec = settings.algorithm_spec()
            total = spec.total(settings.algorithm_config())
            with (
                interrupted_message(resume, resumable=True),
                EpisodeProgress(
                    out, total=total, unit=spec.unit, disable=quiet, already=units_done(resume)
                ) as progress,
            ):
                outcome = resume_run(
                    resume,
                    callback=progress.update_episode,
                    on_evaluation=progress.add_evaluation,
                    curve_process=True,  # the curve drawn aside while the run trains
                )
        except GradlogpiError as error:
            fail(error)
        if outcome.already_complete:
            typer.echo(f"{resume}: the run is already complete; nothing to do")
        out.print(summary_line(outcome.result), soft_wrap=True)
        for evaluation in outcome.evaluation:  # as a run trained in one go prints it
            out.print(evaluation_line(evaluation, "final policy"), soft_wrap=True)
        typer.echo(f"run directory: {outcome.run_dir}")
        return

    overrides = parse_overrides(set_ or [])
    origins = flag_overrides(
        overrides,
        {
            "--env": env, "--algorithm": algorithm, "--policy": policy,
            "--features": features, "--runs": runs, "--seed": seed,
        },
    )  # fmt: skip
    try:
        settings = load_config(config, overrides, origins=origins)
        spec = settings.algorithm_spec()
        total = spec.total(settings.algorithm_config())
        out = console(quiet)
        target = run_dir if run_dir is not None else default_run_dir(settings)
        # runs learned one after another or together keep no resumable checkpoint
        resumable = spec.not_resumable(settings.algorithm_config()) is None and (
            settings.runs == 1 or spec.lockstep_runs
        )
        keeps_checkpoints = settings.checkpoint_every > 0 or settings.checkpoint_seconds > 0
        with (
            interrupted_message(target, resumable and keeps_checkpoints),
            EpisodeProgress(out, total=total, unit=spec.unit, disable=quiet) as progress,
        ):
            outcome = train(
                settings,
                target,
                callback=progress.update_episode,
                overwrite=overwrite,
                on_evaluation=progress.add_evaluation,
                curve_process=True,  # the curve drawn aside while the run trains
            )
    except GradlogpiError as error:
        fail(named_flag(error, origins))
    out.print(summary_line(outcome.result), soft_wrap=True)
    for evaluation in outcome.evaluation:
        out.print(evaluation_line(evaluation, "final policy"), soft_wrap=True)
    typer.echo(f"run directory: {outcome.run_dir}")


@contextlib.contextmanager
def interrupted_message(run_dir: Any, resumable: bool) -> Iterator[None]:
    """Ctrl-C ends the command with one line saying what is kept and how to go on (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        if resumable and (Path(run_dir) / "checkpoint.json").exists():
            then = f"continue it with: gradlogpi train --resume {run_dir}"
        elif resumable:
            then = (
                "it stopped before its first checkpoint (see checkpoint_every and "
                "checkpoint_seconds); start it again with: gradlogpi train --config "
                f"{Path(run_dir) / 'config.toml'} --run-dir {run_dir} --overwrite"
            )
        else:
            then = "it has no checkpoint to resume from (set checkpoint_every to keep one)"
        typer.echo(f"interrupted: the run in {run_dir} stopped; {then}", err=True)
        raise typer.Exit(130) from None


def evaluation_line(evaluation: Any, what: str) -> str:
    run = f" of run {evaluation.run}" if evaluation.run else ""
    return (
        f"{what}{run}: mean return {evaluation.mean_return:.2f} (95% CI {evaluation.ci_low:.2f} "
        f"to {evaluation.ci_high:.2f}) over {evaluation.episodes} fresh {evaluation.mode} "
        f"evaluation episodes, {evaluation.truncated} reached the time limit"
    )


def summary_line(result: Any) -> str:
    """The end-of-training summary, in the progress display's words."""
    summary = result.summary()
    per_run = "" if summary["runs"] == 1 else " of each run"
    return (
        f"{summary['runs']} run(s), {summary['episodes']} episodes each; mean return of the "
        f"last {summary['final_window']} episodes{per_run}: {summary['final_mean_return']:.2f}; "
        f"episodes that reached the time limit: {summary['time_limit_episodes']} "
        f"(runs whose last episode did: {summary['time_limit_runs']}); "
        f"diverged runs: {summary['diverged_runs']}"
    )


def runs_mode(spec: Any) -> str:
    """How `runs = R` is learned by a registry entry (`AlgorithmSpec`), at its default settings."""
    if spec.lockstep_runs:
        return "in lockstep"
    if spec.learns_together(spec.config_class()):
        return "together, update by update"
    return "one after another"


@app.command("algorithms")
def algorithms_command(
    name: Annotated[
        str | None, typer.Argument(help="Show this algorithm's hyperparameters.")
    ] = None,
) -> None:
    """The registered algorithms, policy kinds and feature kinds; with a NAME, the algorithm's
    hyperparameters (`hyperparameters.<key>`)."""
    from gradlogpi.algorithms.registry import ALGORITHMS, get
    from gradlogpi.runs.feature_kinds import space_names

    if name is None:
        table = Table(title="Algorithms (gradlogpi train --algorithm NAME)")
        for column in ("name", "policies", "runs", "progress unit", "what it is"):
            table.add_column(column)
        for spec in ALGORITHMS.values():
            table.add_row(
                spec.name,
                ", ".join(spec.policies),
                runs_mode(spec),
                spec.unit,
                spec.summary,
            )
        policies = Table(title="Policy kinds (gradlogpi train --policy KIND)")
        for column in ("name", "family", "actions", "observations", "what it is"):
            policies.add_column(column)
        for policy in POLICY_KINDS.values():
            reads = space_names(policy.observations) if policy.observations else "by features"
            actions = space_names(policy.action_spaces)
            policies.add_row(policy.name, policy.family, actions, reads, policy.summary)
        features = Table(title="Feature kinds (gradlogpi train --features KIND)")
        for column in ("name", "observations", "what it is"):
            features.add_column(column)
        for feature in FEATURE_KINDS.values():
            where = f"{feature.only_for} only" if feature.only_for else None
            where = where or space_names(feature.observations)
            features.add_row(feature.name, where, feature.summary)
        for listing in (table, policies, features):
            console().print(listing)
        return
    try:
        spec = get(name)
    except ValueError as error:
        fail(error)
    table = Table(title=f"{spec.name}: {spec.summary} (--set hyperparameters.KEY=VALUE)")
    for column in ("key", "type", "default", "meaning"):
        table.add_column(column)
    for key, kind, default, doc in spec.hyperparameters():
        table.add_row(key, kind, repr(default), doc)
    console().print(table)


@app.command("evaluate")
def evaluate_command(
    run: Annotated[Path, typer.Argument(help="Run directory written by `gradlogpi train`.")],
    episodes: Annotated[int, typer.Option(min=1, help="Evaluation episodes.")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the evaluation episodes.")] = 0,
    run_index: Annotated[
        int, typer.Option("--run-index", min=0, help="Which run of the directory.")
    ] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    video: Annotated[
        Path | None,
        typer.Option(
            help=r"Also record MP4s here (Gymnasium RecordVideo; extra gradlogpi\[video])."
        ),
    ] = None,
    video_episodes: Annotated[
        int, typer.Option(min=1, help="Episodes to record with --video.")
    ] = 1,
    checkpoint: Annotated[
        str,
        typer.Option(help="last (where training ended) or best (kept with eval_every > 0)."),
    ] = "last",
    greedy: Annotated[
        bool,
        typer.Option(help="Act greedily (argmax π, or the Gaussian's mean) instead of sampling."),
    ] = False,
) -> None:
    """Mean return of a trained policy with a 95% bootstrap confidence interval."""
    import json

    from gradlogpi.errors import GradlogpiError
    from gradlogpi.runs.evaluate import evaluate, record_video

    try:
        if checkpoint not in ("last", "best"):
            raise typer.BadParameter(
                f"must be last or best; got {checkpoint!r}", param_hint="--checkpoint"
            )
        which: Literal["last", "best"] = "best" if checkpoint == "best" else "last"
        evaluation = evaluate(run, episodes, seed, run_index, which, greedy)
        videos = (
            record_video(run, video, video_episodes, seed, run_index) if video is not None else []
        )
    except GradlogpiError as error:
        fail(error)
    if json_output:
        typer.echo(json.dumps(evaluation.as_dict()))
    else:
        typer.echo(evaluation_line(evaluation, f"{checkpoint} policy"))
    for path in videos:
        typer.echo(f"video: {path}", err=json_output)


@app.command("plot")
def plot_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories to compare.")],
    out: Annotated[Path, typer.Option(help="Output file stem; .png and .svg are written.")] = Path(
        "results/learning_curves"
    ),
    smooth: Annotated[
        int | None, typer.Option(min=1, help="Moving-average window in episodes.")
    ] = None,
) -> None:
    """Learning curves of one or more runs: mean, bootstrap 95% band and IQM across seeds."""
    import matplotlib.pyplot as plt

    from gradlogpi.runs.files import save_figure
    from gradlogpi.runs.metrics import read_returns
    from gradlogpi.runs.plots import curve_statistics, plot_curves, runs_count

    if not out.name:
        fail(
            ValueError(f"`--out` must name a file stem (.png and .svg are added); got {str(out)!r}")
        )
    curves = []
    for run_dir in runs:
        if not (run_dir / "metrics.csv").is_file():
            fail(ValueError(f"`RUNS`: {run_dir} is not a run directory (no metrics.csv)"))
        try:
            returns = read_returns(run_dir / "metrics.csv")
            statistics = curve_statistics(returns, smooth=smooth)
        except (OSError, ValueError) as error:
            fail(error)
        curves.append((f"{run_dir.name} ({runs_count(returns.shape[0])})", statistics))
    figure = plot_curves(curves, title="Learning curves", ylabel="Return")
    png = save_figure(figure, out.with_suffix(".png"), dpi=100)
    svg = save_figure(figure, out.with_suffix(".svg"))
    plt.close(figure)
    typer.echo(f"wrote {png} and {svg}")


@app.command("check")
def check_command(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML config naming env, policy and features.")
    ] = None,
    env: Annotated[str | None, typer.Option(help="Gymnasium environment id.")] = None,
    policy: Annotated[str | None, typer.Option(help=f"{POLICY_HELP}.")] = None,
    features: Annotated[str | None, typer.Option(help=f"{FEATURES_HELP}.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override any key, e.g. --set features.order=2"),
    ] = None,
    states: Annotated[int, typer.Option(min=1, help="Sampled states.")] = 8,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    scale: Annotated[
        float, typer.Option(min=0.0, help="Random θ ~ N(0, scale²) to check at.")
    ] = 0.5,
) -> None:
    """Gradient check of a configured policy on sampled states: max errors per parameter block."""
    from gradlogpi.errors import GradlogpiError
    from gradlogpi.runs.checking import RTOL, check_configured_policy

    overrides = parse_overrides(set_ or [])
    origins = flag_overrides(overrides, {"--env": env, "--policy": policy, "--features": features})
    try:
        from gradlogpi.runs.config import load_config

        settings = load_config(config, overrides, origins=origins)
        report = check_configured_policy(settings, states, seed, scale)
    except GradlogpiError as error:
        fail(named_flag(error, origins))
    table = Table(title=f"Gradient check: analytic score vs central differences ({states} states)")
    for column in ("block", "parameters checked", "max abs error", "max rel error"):
        table.add_column(column)
    for name, block in report.blocks.items():
        table.add_row(
            name, str(block.n_checked), f"{block.max_abs_error:.2e}", f"{block.max_rel_error:.2e}"
        )
    console().print(table)
    passed = report.passed(rtol=RTOL, atol=1e-7)
    typer.echo(
        f"{'PASSED' if passed else 'FAILED'}: max abs error {report.max_abs_error:.2e}, max rel error {report.max_rel_error:.2e}"
    )
    if not passed:
        raise typer.Exit(1)


@app.command("explain")
def explain_command(
    env: Annotated[
        str | None,
        typer.Option(help="Explain a state of this environment instead of the seed example."),
    ] = None,
    features: Annotated[str, typer.Option(help=f"{FEATURES_HELP}; for --env.")] = "raw",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random θ and state for --env.")] = 0,
    state: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="A state of a finite MDP (--env): the policy-gradient theorem's terms there.",
        ),
    ] = None,
    gamma: Annotated[float, typer.Option(min=0.0, max=1.0, help="Discount γ for --state.")] = 1.0,
) -> None:
    """φ(s,a), π(·|s), E_π[φ(s,·)] and the score of every action, step by step."""
    from gradlogpi.errors import GradlogpiError
    from gradlogpi.runs.explain import explain_environment, explain_seed

    try:
        if state is not None:
            if env is None:
                raise typer.BadParameter("needs --env (a finite MDP)", param_hint="--state")
            from gradlogpi.experiments.estimators import explain_theorem

            text = explain_theorem(env, state, gamma, seed, p_right=0.5)
        else:
            text = explain_seed() if env is None else explain_environment(env, features, seed)
    except (GradlogpiError, ValueError) as error:
        if isinstance(error, typer.BadParameter):
            raise
        fail(error)
    console().print(text)


@app.command("envs")
def envs() -> None:
    """List the environments gradlogpi ships."""
    import gymnasium as gym

    from gradlogpi.envs import SHIPPED

    table = Table(title="Shipped environments")
    for column in ("id", "actions", "observations", "step cap"):
        table.add_column(column)
    for env_id in SHIPPED:
        env = gym.make(env_id)
        table.add_row(
            env_id,
            str(env.action_space),
            str(env.observation_space),
            str(env.spec.max_episode_steps if env.spec is not None else None),
        )
        env.close()
    console().print(table)


def main() -> None:
    try:
        app(prog_name="gradlogpi")
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise
    exit_without_teardown()


def exit_without_teardown() -> None:
    """End a successful command: the exit handlers run (atexit: JAX's, logging's, temporary
    files'...) and the streams are flushed, as at any exit; then the process ends without
    the interpreter tearing down every module and object one by one, which after a JAX run
    takes a few tenths of a second for nothing (the operating system frees it all at once).

    With a non-daemon thread still running, the interpreter's own exit (which waits for it)
    is kept.
    """
    import atexit
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(not thread.daemon for thread in others):
        sys.exit(0)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython's
    if run_exit_handlers is None:
        sys.exit(0)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)
