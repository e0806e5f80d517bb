"""Sweeps: a grid of config values × seeds, each member a standard run directory.

A sweep file (TOML):

    base = "configs/cartpole_linear.toml"      # or a [base] table holding a whole config
    seeds = [0, 1, 2]
    [grid]
    "hyperparameters.alpha_theta" = [0.05, 0.1]
    "hyperparameters.normalize_advantages" = [true, false]

Every member writes OUT/<name>/ (config.toml, metrics.csv, checkpoint, curve) and, last,
an atomic `done.json`. Re-running the sweep skips members that have it and runs the rest
from scratch, so a sweep killed half way loses nothing and duplicates nothing. Members
are seeded by their own config, so results do not depend on the backend or the number
of workers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradlogpi.algorithms import EpisodeEnd
from gradlogpi.errors import ConfigError, MissingExtraError
from gradlogpi.runs.config import load_config, read_toml
from gradlogpi.runs.files import atomic_open
from gradlogpi.runs.pool import WorkerPool


@dataclass(frozen=True)
class Member:
    name: str
    overrides: dict[str, Any]
    point: tuple[tuple[str, Any], ...]  # the grid values, without the seed
    seed: int


def read_sweep(path: str | Path) -> tuple[Path | None, dict[str, Any], list[Member]]:
    """(base config path or None, base config table, members) of a sweep file."""
    path = Path(path)
    document = read_toml(path, "sweep")
    unknown = set(document) - {"base", "seeds", "grid"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown key `{sorted(unknown)[0]}`; expected base, seeds and grid"
        )
    base = document.get("base", {})
    base_path = (path.parent / base) if isinstance(base, str) else None
    if base_path is not None and not base_path.exists():
        base_path = Path(base)
    seeds = document.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and s >= 0 for s in seeds)
    ):
        raise ConfigError(f"{path}: `seeds` = {seeds!r}: expected a non-empty list of ints >= 0")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{path}: `seeds` = {seeds!r} repeats a seed; each seed once")
    grid = document.get("grid", {})
    if not isinstance(grid, dict):
        raise ConfigError(f"{path}: `grid` = {grid!r}: expected a table of key = [values]")
    for key, values in grid.items():
        if key in ("seed", "runs"):
            raise ConfigError(
                f"{path}: `grid.{key}` is set by the sweep itself (seed from `seeds`, one run "
                "per member); list seeds in `seeds`"
            )
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"{path}: `grid.{key}` = {values!r}: expected a non-empty list of values"
            )
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise ConfigError(
                f"{path}: `grid.{key}` = {values!r} repeats a value; each value once "
                "(a repeat would be counted as another seed)"
            )
    keys = sorted(grid)
    members = []
    for combination in itertools.product(*(grid[k] for k in keys)):
        point = tuple(zip(keys, combination, strict=True))
        for seed in seeds:
            label = "__".join(f"{k.split('.')[-1]}={v}" for k, v in point) or "base"
            overrides = {**dict(point), "seed": seed, "runs": 1}
            members.append(Member(f"{label}__seed={seed}", overrides, point, seed))
    return base_path, base if isinstance(base, dict) else {}, members


def member_config(base_path: Path | None, base_table: dict[str, Any], member: Member) -> Any:
    flat = _flatten(base_table)
    flat.update(member.overrides)
    return load_config(base_path, flat)


def run_member(
    base_path: str | None,
    base_table: dict[str, Any],
    member: Member,
    out: str,
    callback: Callable[[EpisodeEnd], None] | None = None,
    on_evaluation: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Train one member from scratch into OUT/<name>/ and mark it done (a worker's job).

    `callback` and `on_evaluation` are `train`'s (progress), for a member run in this process.
    """
    from gradlogpi.runs.train import train

    fault = os.environ.get("GRADLOGPI_FAULT_EXIT_ONCE")
    if fault and not os.path.exists(fault):
        # fault injection for the retry tests: the first member to get here kills its worker
        Path(fault).touch()
        os._exit(1)
    config = member_config(Path(base_path) if base_path else None, base_table, member)
    directory = Path(out) / member.name
    if directory.exists():
        shutil.rmtree(directory)  # an unfinished earlier attempt: start it over
    outcome = train(config, directory, callback=callback, on_evaluation=on_evaluation)
    summary = {
        "name": member.name,
        "seed": member.seed,
        "point": [list(p) for p in member.point],
        **outcome.result.summary(),
    }
    with atomic_open(directory / "done.json", "w", encoding="utf-8") as handle:
        json.dump(summary, handle)
    return summary


@dataclass(frozen=True)
class SweepPlan:
    """A sweep checked and bound to its output directory: every member, and those not done."""

    path: Path
    out: Path
    base_path: Path | None
    base_table: dict[str, Any]
    members: list[Member]
    pending: list[Member]

    def done(self) -> list[Member]:
        """The members whose results are kept (`done.json`), in member order."""
        return [m for m in self.members if (self.out / m.name / "done.json").exists()]

    def member_arguments(self, member: Member) -> tuple[str | None, dict[str, Any], Member, str]:
        """`run_member`'s first four arguments for `member`."""
        base = str(self.base_path) if self.base_path else None
        return base, self.base_table, member, str(self.out)


def plan_sweep(path: str | Path, out: str | Path) -> SweepPlan:
    """Read and check every member before any work starts; bind OUT; find the members to run."""
    base_path, base_table, members = read_sweep(path)
    for member in members:  # validate every member before any work starts
        member_config(base_path, base_table, member)
    out = Path(out)
    bind_output(out, path, base_path)
    pending = [m for m in members if not (out / m.name / "done.json").exists()]
    return SweepPlan(Path(path), out, base_path, base_table, members, pending)


def run_plan(
    plan: SweepPlan,
    *,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    begin: Callable[[Member], tuple[Callable[[EpisodeEnd], None], Callable[[float], None]]]
    | None = None,
    finished: Callable[[Member], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the plan's pending members; return the summaries of all members, in member order.

    `finished(member)` is called as each member is done (its `done.json` written). With one
    local worker the members run in this process, and `begin(member)` gives each one's
    progress callbacks (`train`'s `callback` and `on_evaluation`). On Ctrl-C the members not
    finished are stopped (worker processes ended, Ray tasks cancelled) and
    KeyboardInterrupt propagates; finished members are kept, so running the sweep again
    continues.
    """

    def done(member: Member) -> None:
        if finished is not None:
            finished(member)

    if backend == "ray":
        _run_on_ray(plan, address, done)
    elif backend == "local":
        if workers <= 1:
            for member in plan.pending:
                callbacks = begin(member) if begin is not None else (None, None)
                run_member(*plan.member_arguments(member), *callbacks)
                done(member)
        elif plan.pending:
            from gradlogpi.runs.limits import check_workers

            workers = min(workers, len(plan.pending))  # a process per member at most
            check_workers("--workers", workers)
            _run_in_processes(plan, workers, done)
    else:
        raise ConfigError(f"`backend` must be 'local' or 'ray'; got {backend!r}")
    return [json.loads((plan.out / m.name / "done.json").read_text()) for m in plan.members]


def run_sweep(
    path: str | Path,
    out: str | Path,
    *,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
) -> list[dict[str, Any]]:
    """Run every member not yet done; return the summaries of all members, in member order."""
    return run_plan(plan_sweep(path, out), workers=workers, backend=backend, address=address)


def _run_in_processes(plan: SweepPlan, workers: int, done: Callable[[Member], None]) -> None:
    # on Ctrl-C or a failed member the members running are ended: their directories have
    # no done.json, so a re-run starts them over
    with WorkerPool(workers) as pool:
        futures = {
            pool.submit(run_member, *plan.member_arguments(member)): member
            for member in plan.pending
        }
        for future in pool.completed(futures):
            future.result()
            done(futures[future])


def definition_hash(path: str | Path, base_path: Path | None) -> str:
    """SHA-256 of what defines a sweep: its file, and the base config file it names."""
    digest = hashlib.sha256(Path(path).read_bytes())
    if base_path is not None:
        digest.update(base_path.read_bytes())
    return digest.hexdigest()


def bind_output(out: Path, path: str | Path, base_path: Path | None) -> None:
    """Tie OUT to this sweep (OUT/sweep.json); refuse an OUT that another sweep wrote."""
    marker = out / "sweep.json"
    identity = {"sweep": str(path), "definition_sha256": definition_hash(path, base_path)}
    if marker.exists():
        try:
            stored = json.loads(marker.read_text())
        except (OSError, ValueError) as error:
            raise ConfigError(f"{marker}: unreadable ({error}); choose another --out") from None
        if stored.get("definition_sha256") != identity["definition_sha256"]:
            raise ConfigError(
                f"{out}: holds the results of another sweep ({stored.get('sweep')}, or this "
                "file since changed); choose another --out"
            )
        return
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            f"{out}: is not empty and holds no sweep of this definition; choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(marker, "w", encoding="utf-8") as handle:
        json.dump(identity, handle)


def _run_on_ray(plan: SweepPlan, address: str | None, done: Callable[[Member], None]) -> None:
    try:
        import ray
    except ImportError:
        raise MissingExtraError('the Ray backend needs Ray: pip install "gradlogpi[ray]"') from None
    from gradlogpi.rollouts.distributed import checked_ray_address

    if not ray.is_initialized():
        ray.init(
            address=checked_ray_address("--address", address),
            include_dashboard=False,
            ignore_reinit_error=True,
            log_to_driver=False,
        )
    # a member whose worker dies is run again from scratch (run_member clears its directory)
    remote = ray.remote(max_retries=3)(run_member)
    tasks = {remote.remote(*plan.member_arguments(m)): m for m in plan.pending}
    waiting = list(tasks)
    try:
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for task in ready:
                ray.get(task)
                done(tasks[task])
    except BaseException:
        for task in waiting:
            ray.cancel(task, force=True)
        raise


def summarise(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard error across seeds of each grid point's final mean return."""
    groups: dict[str, list[float]] = {}
    for item in summaries:
        key = json.dumps(item["point"])
        groups.setdefault(key, []).append(item["final_mean_return"])
    rows = []
    for key, values in groups.items():
        values_array = np.array(values)
        error = values_array.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
        rows.append(
            {
                "point": json.loads(key),
                "seeds": len(values),
                "mean": float(values_array.mean()),
                "standard_error": float(error),
            }
        )
    return rows


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and key not in ("env_kwargs",):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat
