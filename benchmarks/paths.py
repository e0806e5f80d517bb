"""P1-P8: every path a user takes, beside careful hand-written code and the peer libraries.

    python -m benchmarks.paths              all paths, one table (what `make bench` prints)
    python -m benchmarks.paths --only P2 P3 some of them
    python -m benchmarks.paths --repeats 5  more repetitions (the median is reported)

Every figure is a ratio measured in this process, in this run: an implementation's env
steps per second over the floor's, the floor measured again right before each
implementation so that the machine's noise hits both alike. The floors are strict: the raw
Gymnasium environment (or vector environment) stepped with pre-drawn actions, nothing else
in the loop. P7 compares the aggregate of 100 runs with one raw env, P8 the compiled
Figure 13.1 with a vectorised NumPy implementation of the book's loop (a speed-up).

Peers that are not installed (they live in the `bench` venv of `bash dev.sh bench`) are
shown as "n/a"; "—" means the peer has no such algorithm.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np

from benchmarks.peers import lean

Measure = Callable[[], tuple[int, float]]  # → (env steps, seconds)
ACTIONS = (np.int64(0), np.int64(1))


def single_floor(steps: int = 100_000, unwrapped: bool = False) -> float:
    """Raw CartPole-v1 (as gym.make gives it) stepped with pre-drawn actions: steps/s.

    `unwrapped`: step `env.unwrapped` instead, below gym.make's checking wrappers, which
    gradlogpi's one-env loops skip after their first episode; the ratio to this floor is
    what is left of the library's own cost, shown in brackets beside the ratio to the
    plain floor.
    """
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    stepped = env.unwrapped if unwrapped else env
    actions = [ACTIONS[a] for a in np.random.default_rng(0).integers(2, size=steps)]
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = stepped.step(action)
        if terminated or truncated:
            stepped.reset()
    return steps / (time.perf_counter() - start)


def unwrapped_floor() -> float:
    """`single_floor` below gym.make's checking wrappers (env.unwrapped): steps/s."""
    return single_floor(unwrapped=True)


def raw_vector_rate(envs, steps: int) -> float:
    """A vector env (its own autoreset mode) stepped with pre-drawn action arrays: steps/s."""
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(2, size=(steps, envs.num_envs))
    start = time.perf_counter()
    for action in actions:
        envs.step(action)
    return steps * envs.num_envs / (time.perf_counter() - start)


def vector_floor(num_envs: int = 8, steps: int = 20_000) -> float:
    """Raw sync vector CartPole-v1 (default autoreset) with pre-drawn action arrays: steps/s."""
    envs = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="sync")
    rate = raw_vector_rate(envs, steps)
    envs.close()
    return rate


def envpool_floor(num_envs: int = 8, steps: int = 20_000) -> float:
    """Raw EnvPool CartPole-v1 (8 envs) stepped with pre-drawn action arrays: steps/s."""
    import envpool

    envs = envpool.make_gymnasium("CartPole-v1", num_envs=num_envs, seed=0)
    envs.reset()
    actions = np.random.default_rng(0).integers(2, size=(steps, num_envs))
    start = time.perf_counter()
    for action in actions:
        envs.step(action)
    return steps * num_envs / (time.perf_counter() - start)


@dataclass
class Path:
    title: str
    floor: Callable[[], float]
    target: float
    implementations: dict[str, Measure] = field(default_factory=dict)
    absent: tuple[str, ...] = ()  # peers with no such algorithm
    bare_floor: Callable[[], float] | None = None  # also gradlogpi's ratio to this one


def timed(function: Callable[[], int]) -> Measure:
    def measure() -> tuple[int, float]:
        start = time.perf_counter()
        steps = function()
        return steps, time.perf_counter() - start

    return measure


# ---- gradlogpi on each path --------------------------------------------------------------


def ours_reinforce(batch_update: bool, episodes: int) -> int:
    from gradlogpi.algorithms import ReinforceConfig, reinforce
    from gradlogpi.features import RawState
    from gradlogpi.policies import MatrixSoftmaxPolicy

    config = ReinforceConfig(
        n_episodes=episodes, alpha_theta=1e-3, gamma=0.99, batch_update=batch_update
    )
    result = reinforce("CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2), config, seed=0)
    return int(result.lengths.sum())


def ours_actor_critic(tiles: bool, episodes: int) -> int:
    from gradlogpi.algorithms import ActorCriticConfig, actor_critic
    from gradlogpi.features import RawState, TileCoder
    from gradlogpi.policies import LinearValue, MatrixSoftmaxPolicy

    if tiles:
        space = gym.make("CartPole-v1").observation_space
        bounds = [(-2.4, 2.4), (-3, 3), (-0.21, 0.21), (-3.5, 3.5)]
        features = TileCoder.from_space(space, 8, 4, bounds=bounds, table_size=4096)
        alpha = 0.01 / 8
    else:
        features, alpha = RawState(4), 1e-3
    config = ActorCriticConfig(n_episodes=episodes, alpha_theta=alpha, alpha_w=alpha, gamma=0.99)
    policy, value = MatrixSoftmaxPolicy(features, 2), LinearValue(features)
    result = actor_critic("CartPole-v1", policy, config, value=value, seed=0)
    return int(result.lengths.sum())


def neural_softmax(backend: str, hidden: tuple[int, ...], lr: float) -> object:
    """A 4-…-2 MLP softmax policy on `backend` ('torch' or 'jax')."""
    if backend == "jax":
        from gradlogpi.policies.jax_policies import JaxSoftmaxPolicy
        from gradlogpi.policies.networks import MLP

        return JaxSoftmaxPolicy(4, 2, MLP(hidden), seed=0, lr=lr)
    from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy

    return NeuralSoftmaxPolicy(4, 2, hidden, seed=0, lr=lr, threads=1)


def ours_mlp_reinforce(episodes: int, backend: str = "torch") -> int:
    from gradlogpi.algorithms.book.neural_reinforce import NeuralReinforceConfig, neural_reinforce
    from gradlogpi.core.threads import one_blas_thread

    policy = neural_softmax(backend, (128,), 1e-3)
    config = NeuralReinforceConfig(n_episodes=episodes)
    with one_blas_thread():  # as `gradlogpi train` runs it
        return int(neural_reinforce("CartPole-v1", policy, config, seed=0).lengths.sum())


def ours_batch(
    collection: str, neural: bool, updates: int, mode: str = "sync", backend: str = "torch"
) -> int:
    from gradlogpi.algorithms.on_policy.batch_pg import (
        BatchPolicyGradientConfig,
        batch_policy_gradient,
    )
    from gradlogpi.features import RawState
    from gradlogpi.policies import MatrixSoftmaxPolicy

    if neural:
        policy = neural_softmax(backend, (64, 64), 7e-4)
    else:
        policy = MatrixSoftmaxPolicy(RawState(4), 2)
    config = BatchPolicyGradientConfig(
        n_updates=updates,
        episodes_per_update=8,
        num_envs=8,
        alpha_theta=0.01,
        collection=collection,
        steps_per_env=5,
        vectorization_mode=mode,
    )
    result = batch_policy_gradient("CartPole-v1", policy, config, seed=0)
    return updates * 5 * 8 if collection == "steps" else int(result.lengths.sum())


def ours_many_runs(runs: int, episodes: int) -> int:
    from gradlogpi.algorithms import ReinforceConfig, reinforce
    from gradlogpi.features import RawState
    from gradlogpi.policies import MatrixSoftmaxPolicy

    config = ReinforceConfig(
        n_episodes=episodes,
        alpha_theta=1e-3,
        gamma=0.99,
        batch_update=True,
        runs_in_vector_env=True,
    )
    result = reinforce(
        "CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2), config, seed=0, runs=runs
    )
    return int(result.lengths.sum())


def figure_13_1_speedup() -> dict:
    """P8: the compiled Figure 13.1 against `peers.lean.vectorised_figure_13_1`, steps/s each."""
    from gradlogpi.experiments.sutton_barto import figure_13_1

    figure_13_1(runs=2, episodes=2, seed=0)  # compile (or load the cached kernels) first
    start = time.perf_counter()
    curves = figure_13_1(runs=100, episodes=1000, seed=0)
    ours_seconds = time.perf_counter() - start
    ours_steps = sum(int(c.result.lengths.sum()) for c in curves)
    numpy_steps, numpy_seconds = lean.vectorised_figure_13_1(runs=100, episodes=100)
    return {
        "ours_seconds": ours_seconds,
        "ours_steps_per_second": ours_steps / ours_seconds,
        "numpy_steps_per_second": numpy_steps / numpy_seconds,
        "speedup": (ours_steps / ours_seconds) / (numpy_steps / numpy_seconds),
    }


# ---- the table ---------------------------------------------------------------------------

BRACKETS = (
    "In brackets, gradlogpi's ratio to a stricter floor: P1-P4 the env stepped below "
    "gym.make's checking wrappers (env.unwrapped), which its one-env loops skip after the "
    "first episode; P6 one raw env, since episode collection steps a sync vector env's "
    "sub-envs one by one (only those whose episodes are still wanted)."
)
PEERS = ("gradlogpi", "gradlogpi (JAX)", "careful NumPy", "MushroomRL", "Tianshou", "SB3")
OURS = ("gradlogpi", "gradlogpi (JAX)")
"""Our columns: the default (PyTorch for networks) and the compiled JAX backend."""


def peer_measures() -> dict[str, dict[str, Measure]]:
    """The peers' measures by path, for the peers that import (the `bench` venv has them)."""
    found: dict[str, dict[str, Measure]] = {}
    for module_name, peer in (("mushroom", "MushroomRL"), ("tianshou", "Tianshou"), ("sb3", "SB3")):
        try:
            module = importlib.import_module(f"benchmarks.peers.{module_name}")
            found[peer] = module.MEASURES
        except ImportError:
            continue
    return found


def paths() -> dict[str, Path]:
    return {
        "P1": Path(
            "linear REINFORCE, update per episode, 1 env",
            single_floor,
            0.85,
            {
                "gradlogpi": timed(lambda: ours_reinforce(True, 1500)),
                "careful NumPy": lambda: lean.reinforce_episode_update(1500),
            },
            absent=("Tianshou", "SB3"),
            bare_floor=unwrapped_floor,
        ),
        "P2": Path(
            "linear REINFORCE, the book's per-step update, 1 env",
            single_floor,
            0.75,
            {
                "gradlogpi": timed(lambda: ours_reinforce(False, 1500)),
                "careful NumPy": lambda: lean.reinforce_step_update(300),
            },
            absent=("MushroomRL", "Tianshou", "SB3"),
            bare_floor=unwrapped_floor,
        ),
        "P3": Path(
            "one-step actor-critic, linear (raw state), 1 env",
            single_floor,
            0.6,
            {
                "gradlogpi": timed(lambda: ours_actor_critic(False, 1500)),
                "careful NumPy": lambda: lean.actor_critic_one_step(300),
            },
            absent=("Tianshou", "SB3"),
            bare_floor=unwrapped_floor,
        ),
        "P3t": Path(
            "one-step actor-critic, tile-coded (8×4096), 1 env",
            single_floor,
            0.6,
            {"gradlogpi": timed(lambda: ours_actor_critic(True, 300))},
            absent=("Tianshou", "SB3"),
            bare_floor=unwrapped_floor,
        ),
        "P4": Path(
            "MLP 4-128-2 REINFORCE, 1 env",
            single_floor,
            0.6,
            {
                "gradlogpi": timed(lambda: ours_mlp_reinforce(300)),
                "gradlogpi (JAX)": timed(lambda: ours_mlp_reinforce(300, "jax")),
                "careful NumPy": lambda: lean.mlp_reinforce(300),
            },
            absent=("SB3",),
            bare_floor=unwrapped_floor,
        ),
        "P5": Path(
            "A2C-style step collection, MLP 64-64, 8 sync envs, 5 steps per update",
            vector_floor,
            0.5,
            {
                "gradlogpi": timed(lambda: ours_batch("steps", True, 1000)),
                "gradlogpi (JAX)": timed(lambda: ours_batch("steps", True, 1000, backend="jax")),
            },
            absent=("MushroomRL",),
        ),
        "P5e": Path(
            "P5 on EnvPool (ratio to EnvPool's own raw stepping)",
            envpool_floor,
            0.5,
            {"gradlogpi": timed(lambda: ours_batch("steps", True, 1000, "envpool"))},
            absent=("careful NumPy", "MushroomRL", "Tianshou", "SB3"),
        ),
        "P6": Path(
            "whole-episode collection, linear, 8 sync envs",
            vector_floor,
            0.7,
            {"gradlogpi": timed(lambda: ours_batch("episodes", False, 60))},
            absent=("MushroomRL", "Tianshou", "SB3"),
            bare_floor=single_floor,
        ),
        "P7": Path(
            "100 runs of linear REINFORCE at once in vector CartPole (× one raw env)",
            single_floor,
            10.0,
            {"gradlogpi": timed(lambda: ours_many_runs(100, 300))},
            absent=("careful NumPy", "MushroomRL", "Tianshou", "SB3"),
        ),
    }


def measure_path(name: str, path: Path, peers: dict, repeats: int) -> dict:
    implementations = dict(path.implementations)
    for peer, measures in peers.items():
        if name in measures:
            implementations[peer] = measures[name]
    ratios: dict[str, list[float]] = {label: [] for label in implementations}
    bare: list[float] = []
    for measure in implementations.values():
        measure()  # warm: imports, compilation, caches
    for _ in range(repeats):
        for label, measure in implementations.items():
            floor = path.floor()
            steps, seconds = measure()
            ratios[label].append(steps / seconds / floor)
            if label == "gradlogpi" and path.bare_floor is not None:
                bare.append(steps / seconds / path.bare_floor())
    row = {
        "id": name,
        "path": path.title,
        "target": path.target,
        "ratios": {label: float(np.median(values)) for label, values in ratios.items()},
        "all_ratios": ratios,
        "absent": list(path.absent),
    }
    if bare:
        row["gradlogpi_to_unwrapped"] = float(np.median(bare))
    row["met"] = bool(max(row["ratios"].get(ours, 0.0) for ours in OURS) >= path.target)
    return row


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "machine": platform.machine()}
    for package in (
        "gradlogpi",
        "numpy",
        "gymnasium",
        "numba",
        "torch",
        "jax",
        "stable-baselines3",
        "mushroom-rl",
        "tianshou",
        "envpool",
    ):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def cell(row: dict, peer: str) -> str:
    if peer == "gradlogpi" and "gradlogpi_to_unwrapped" in row:
        return f"{row['ratios'][peer]:.2f} ({row['gradlogpi_to_unwrapped']:.2f})"
    if peer in row["ratios"]:
        return f"{row['ratios'][peer]:.2f}"
    return "—" if peer in row["absent"] or peer == "gradlogpi (JAX)" else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    every = [*paths(), "P8"]
    parser.add_argument("--only", nargs="*", choices=every, help="paths to measure")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args()
    chosen = args.only or every
    peers = peer_measures()
    rows = []
    for name, path in paths().items():
        if name not in chosen:
            continue
        try:
            rows.append(measure_path(name, path, peers, args.repeats))
        except ImportError as missing:  # e.g. EnvPool outside the bench venv
            rows.append(
                {"id": name, "path": path.title, "target": path.target, "ratios": {},
                 "absent": list(path.absent), "met": False, "error": str(missing)}
            )  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    if "P8" in chosen:
        figures = figure_13_1_speedup()
        rows.append(
            {
                "id": "P8",
                "path": "Figure 13.1 in full, compiled (× a vectorised NumPy of the book's loop)",
                "target": 10.0,
                "ratios": {"gradlogpi": figures["speedup"], "careful NumPy": 1.0},
                "absent": ["MushroomRL", "Tianshou", "SB3"],
                "details": figures,
                "met": figures["speedup"] >= 10.0,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"versions": versions(), "date": date.today().isoformat()}), flush=True)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"gradlogpi paths vs peers (ratio to the raw env, {date.today()})")
    for column in ("id", "path", *PEERS, "target", "met"):
        table.add_column(column)
    for row in rows:
        cells = [cell(row, peer) for peer in PEERS]
        table.add_row(
            row["id"], row["path"], *cells, f"{row['target']:g}", "yes" if row["met"] else "no"
        )
    Console(width=170).print(table)
    print(BRACKETS)
    if args.markdown:
        print("| id | path | " + " | ".join(PEERS) + " | target |")
        print("|---" * (len(PEERS) + 3) + "|")
        for row in rows:
            cells = " | ".join(cell(row, peer) for peer in PEERS)
            print(f"| {row['id']} | {row['path']} | {cells} | {row['target']:g} |")
        print(f"\n{BRACKETS}")


if __name__ == "__main__":
    main()
