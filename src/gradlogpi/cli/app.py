"""`gradlogpi` subcommands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="gradlogpi",
    help="Exact score functions ∇θ log π(a|s) and the policy-gradient algorithms built on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
experiment_app = typer.Typer(help="Published experiments, reproduced.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


def console(quiet: bool = False) -> Console:
    return Console(quiet=quiet, highlight=False, markup=False)


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
    from gradlogpi.experiments import sutton_barto as book
    from gradlogpi.runs.progress import EpisodeProgress

    if figure not in book.FIGURES:
        raise typer.BadParameter(
            f"must be one of {', '.join(book.FIGURES)}; got {figure!r}", param_hint="--figure"
        )
    out_console = console(quiet)
    make = book.figure_13_1 if figure == "13.1" else book.figure_13_2
    n_curves = 3 if figure == "13.1" else 2
    with EpisodeProgress(
        out_console, total=n_curves * episodes, runs=runs, disable=quiet
    ) as progress:
        curves = make(runs=runs, episodes=episodes, seed=seed, callback=progress.update)
    csv_path, png_path = book.write_figure(figure, curves, out)
    table = Table(title=f"Figure {figure}: last 10% of episodes", show_lines=False)
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
            str(env.spec.max_episode_steps),
        )
        env.close()
    console().print(table)


def main() -> None:
    app()
