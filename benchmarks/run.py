"""Benchmarks B1-B6, M1, S1, C1, L1, E1, N1: throughput as a fraction of the raw environment's (or, N1, runs together against one after another), measured in one run.

    python -m benchmarks.run            all figures, one subprocess each (peak RSS per figure)
    python -m benchmarks.run --only B1  one figure

Prints one JSON line per figure (id, value, unit, target, met, peak_rss_mb, details), then a
table. Ratios compare our loop with the raw environment stepped with pre-drawn actions (the
strict floor shared with `benchmarks.paths`) in the same process, in the same run, so
machine noise affects both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from benchmarks.paths import raw_vector_rate, single_floor


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median_of(repeats: int, measure) -> tuple[float, list[float]]:
    values = [measure() for _ in range(repeats)]
    return float(np.median(values)), values


def b1(repeats: int) -> dict:
    """Linear softmax REINFORCE (batch update per episode), one CartPole env."""
    from gradlogpi.algorithms import ReinforceConfig, reinforce
    from gradlogpi.features import RawState
    from gradlogpi.policies import MatrixSoftmaxPolicy

    def measure():
        raw = single_floor(50_000)
        start = time.perf_counter()
        config = ReinforceConfig(n_episodes=2000, alpha_theta=1e-3, gamma=0.99, batch_update=True)
        result = reinforce("CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2), config, seed=0)
        return result.lengths.sum() / (time.perf_counter() - start) / raw

    value, values = median_of(repeats, measure)
    return {
        "id": "B1",
        "value": value,
        "unit": "ratio to raw env",
        "target": 0.8,
        "details": {"ratios": values},
    }


def b2(repeats: int) -> dict:
    """Neural softmax REINFORCE, MLP 4-128-2 in PyTorch (1 thread), one CartPole env."""
    from gradlogpi.algorithms.book.neural_reinforce import NeuralReinforceConfig, neural_reinforce
    from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy

    def measure():
        raw = single_floor(50_000)
        policy = NeuralSoftmaxPolicy(4, 2, (128,), seed=0, lr=1e-3, threads=1)
        start = time.perf_counter()
        result = neural_reinforce(
            "CartPole-v1", policy, NeuralReinforceConfig(n_episodes=1000), seed=0
        )
        return result.lengths.sum() / (time.perf_counter() - start) / raw

    value, values = median_of(repeats, measure)
    return {
        "id": "B2",
        "value": value,
        "unit": "ratio to raw env",
        "target": 0.5,
        "details": {"ratios": values},
    }


def b3(repeats: int) -> dict:
    """Batch policy gradient (linear) on 64 vector CartPole envs: collection + update.

    Step collection (every sub-env takes 128 steps an update, autoreset as in the raw loop)
    on sync and on Gymnasium's native vectorised CartPole: sub-env steps per second over
    the raw vector env's, both counting the autoreset steps. Episode collection (whole
    episodes with their own seeds, idle sub-envs while the last ones finish) is reported
    beside it as useful steps over raw steps.
    """
    import gymnasium as gym

    from gradlogpi.algorithms.on_policy.batch_pg import (
        BatchPolicyGradientConfig,
        batch_policy_gradient,
    )
    from gradlogpi.features import RawState
    from gradlogpi.policies import MatrixSoftmaxPolicy

    def measure(mode: str, collection: str) -> float:
        envs = gym.make_vec("CartPole-v1", num_envs=64, vectorization_mode=mode)
        raw = raw_vector_rate(envs, 2000)
        envs.close()
        config = BatchPolicyGradientConfig(
            n_updates=20,
            episodes_per_update=128,
            num_envs=64,
            alpha_theta=0.01,
            collection=collection,
            steps_per_env=128,
            vectorization_mode=mode,
        )
        start = time.perf_counter()
        result = batch_policy_gradient(
            "CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2), config, seed=0
        )
        elapsed = time.perf_counter() - start
        steps = 20 * 128 * 64 if collection == "steps" else result.lengths.sum()
        return steps / elapsed / raw

    sync, sync_values = median_of(repeats, lambda: measure("sync", "steps"))
    native, native_values = median_of(repeats, lambda: measure("vector_entry_point", "steps"))
    episodes, episode_values = median_of(repeats, lambda: measure("sync", "episodes"))
    return {
        "id": "B3",
        "value": sync,
        "unit": "ratio to raw sync vector env (step collection)",
        "target": 0.85,
        "details": {
            "ratios": sync_values,
            "native_vector_cartpole_ratio": native,
            "native_ratios": native_values,
            "native_target": 0.85,
            "episode_collection_useful_ratio": episodes,
            "episode_collection_ratios": episode_values,
        },
    }


def reference_reinforce_loop(runs: int, episodes: int, alpha: float) -> tuple[float, int]:
    """A straightforward per-run Python loop of REINFORCE on the short corridor (B4's baseline)."""
    import gymnasium as gym

    import gradlogpi.envs  # noqa: F401

    start, steps = time.perf_counter(), 0
    for run in range(runs):
        rng = np.random.default_rng(run)
        env = gym.make("gradlogpi/ShortCorridor-v0")
        theta = np.array([np.log(0.05 / 0.95), 0.0])
        features = np.array([[0.0, 1.0], [1.0, 0.0]])
        for _ in range(episodes):
            _, _ = env.reset(seed=int(rng.integers(2**31)))
            actions, rewards = [], []
            done = False
            while not done:
                preferences = features @ theta
                probabilities = np.exp(preferences - preferences.max())
                probabilities /= probabilities.sum()
                action = int(rng.random() < probabilities[1])
                _, reward, terminated, truncated, _ = env.step(action)
                actions.append(action)
                rewards.append(reward)
                done = terminated or truncated
            returns = np.cumsum(rewards[::-1])[::-1]
            for t, action in enumerate(actions):
                preferences = features @ theta
                probabilities = np.exp(preferences - preferences.max())
                probabilities /= probabilities.sum()
                theta = theta + alpha * returns[t] * (features[action] - probabilities @ features)
            steps += len(rewards)
    return time.perf_counter() - start, steps


def b4(repeats: int) -> dict:
    """Sutton & Barto Figure 13.1 in full (3 α × 100 runs × 1000 episodes) vs a per-run loop.

    With the `fast` extra (Numba) each run learns in compiled code; the one-off compilation
    (cached on disk afterwards) is timed apart, by a tiny figure first.
    """
    from gradlogpi.algorithms.compiled.tabular import available
    from gradlogpi.experiments.sutton_barto import figure_13_1

    start = time.perf_counter()
    figure_13_1(runs=2, episodes=2, seed=0)
    warm_up = time.perf_counter() - start

    def measure():
        start = time.perf_counter()
        curves = figure_13_1(runs=100, episodes=1000, seed=0)
        return time.perf_counter() - start, curves

    timings = [measure() for _ in range(repeats if available() else 1)]
    ours_time = float(np.median([seconds for seconds, _ in timings]))
    curves = timings[0][1]
    ours_steps = sum(int(c.result.lengths.sum()) for c in curves)
    reference_time, reference_steps = reference_reinforce_loop(runs=2, episodes=200, alpha=2**-13)
    speedup = (ours_steps / ours_time) / (reference_steps / reference_time)
    collapsed = sum(int(c.result.collapsed.sum()) for c in curves)
    return {
        "id": "B4",
        "value": speedup,
        "unit": "× per-run loop throughput (env steps / s)",
        "target": 50,
        "details": {
            "figure_seconds": ours_time,
            "figure_seconds_all": [seconds for seconds, _ in timings],
            "target_seconds": 10,
            "compiled": available(),
            "first_call_seconds": warm_up,
            "steps": ours_steps,
            "reference_steps_per_second": reference_steps / reference_time,
            "collapsed_runs": collapsed,
        },
    }


def b5(repeats: int) -> dict:
    """Batched linear softmax score, 100k states × 4 actions × 64 features, vs PyTorch autograd."""
    import torch

    from gradlogpi.core.scores import linear_softmax_score

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n, n_actions, d = 100_000, 4, 64
    phi = rng.standard_normal((n, n_actions, d))
    theta = rng.standard_normal(d) * 0.1
    actions = rng.integers(n_actions, size=n)

    def ours():
        start = time.perf_counter()
        linear_softmax_score(theta, phi, actions)
        return time.perf_counter() - start

    phi_t, actions_t = torch.from_numpy(phi), torch.from_numpy(actions)

    def autograd():
        from torch.func import grad, vmap

        def log_prob(parameters, features, action):
            return (
                torch.log_softmax(features @ parameters, dim=-1)
                .gather(-1, action.unsqueeze(-1))
                .squeeze(-1)
            )

        start = time.perf_counter()
        vmap(grad(log_prob), in_dims=(None, 0, 0))(torch.from_numpy(theta), phi_t, actions_t)
        return time.perf_counter() - start

    ours_time, _ = median_of(max(repeats, 3), ours)
    torch_time, _ = median_of(max(repeats, 3), autograd)
    buffer = np.empty(phi.size)
    np.copyto(buffer, phi.reshape(-1))  # touch the pages first: measure copying, not page faults
    start = time.perf_counter()
    for _ in range(3):
        np.copyto(buffer, phi.reshape(-1))
    bandwidth = 3 * 2 * phi.nbytes / (time.perf_counter() - start)  # read + write per copy
    bytes_touched = (
        2 * phi.nbytes + n * d * 8
    )  # φ read twice (preferences, then the score), score written
    return {
        "id": "B5",
        "value": torch_time / ours_time,
        "unit": "× faster than torch.func vmap(grad)",
        "target": 3,
        "details": {
            "ours_seconds": ours_time,
            "torch_seconds": torch_time,
            "bandwidth_bound_seconds": bytes_touched / bandwidth,
            "copy_bandwidth_gb_s": bandwidth / 1e9,
        },
    }


def b6(repeats: int) -> dict:
    """Tile coding (8 tilings, hashed 4096) with a linear softmax policy, one CartPole env."""
    import gymnasium as gym

    from gradlogpi.algorithms import ReinforceConfig, reinforce
    from gradlogpi.features import TileCoder
    from gradlogpi.policies import MatrixSoftmaxPolicy

    space = gym.make("CartPole-v1").observation_space

    def measure():
        raw = single_floor(50_000)
        coder = TileCoder.from_space(
            space, 8, 4, bounds=[(-2.4, 2.4), (-3, 3), (-0.21, 0.21), (-3.5, 3.5)], table_size=4096
        )
        start = time.perf_counter()
        config = ReinforceConfig(n_episodes=1500, alpha_theta=1e-3, gamma=0.99, batch_update=True)
        result = reinforce("CartPole-v1", MatrixSoftmaxPolicy(coder, 2), config, seed=0)
        return result.lengths.sum() / (time.perf_counter() - start) / raw

    value, values = median_of(repeats, measure)
    return {
        "id": "B6",
        "value": value,
        "unit": "ratio to raw env",
        "target": 0.5,
        "details": {"ratios": values},
    }


def memory_growth() -> dict:
    """Peak RSS after 500 and after 4000 episodes of B1's loop: memory must not grow with episodes."""
    from gradlogpi.algorithms import ReinforceConfig, reinforce
    from gradlogpi.features import RawState
    from gradlogpi.policies import MatrixSoftmaxPolicy

    rss = []
    for episodes in (500, 4000):
        reinforce(
            "CartPole-v1",
            MatrixSoftmaxPolicy(RawState(4), 2),
            ReinforceConfig(n_episodes=episodes, alpha_theta=1e-4, batch_update=True),
            seed=0,
        )
        rss.append(peak_rss_mb())
    return {
        "id": "M1",
        "value": rss[1] - rss[0],
        "unit": "MB more peak RSS for 8× the episodes",
        "target": 5,
        "details": {"rss_mb": rss},
    }


def s1(repeats: int) -> dict:
    """Scaling of batch rollouts on Ray: 2 workers × 4 envs vs 1 worker × 8 envs (same batch)."""
    import dataclasses

    import ray

    from gradlogpi.algorithms.on_policy.batch_pg import (
        BatchPolicyGradientConfig,
        batch_policy_gradient,
    )
    from gradlogpi.features import RawState
    from gradlogpi.policies import MatrixSoftmaxPolicy

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    base = BatchPolicyGradientConfig(
        n_updates=8,
        episodes_per_update=64,
        num_envs=8,
        alpha_theta=0.05,
        rollout_backend="ray",
        normalize_advantages=True,
    )
    rates = {}
    for workers in (1, 2):
        config = dataclasses.replace(base, rollout_workers=workers)
        batch_policy_gradient(
            "CartPole-v1",
            MatrixSoftmaxPolicy(RawState(4), 2),
            dataclasses.replace(config, n_updates=1),
            seed=0,
        )  # warm the actors' imports
        start = time.perf_counter()
        result = batch_policy_gradient(
            "CartPole-v1", MatrixSoftmaxPolicy(RawState(4), 2), config, seed=0
        )
        rates[workers] = result.lengths.sum() / (time.perf_counter() - start)
    ray.shutdown()
    efficiency = rates[2] / (2 * rates[1])
    return {
        "id": "S1",
        "value": efficiency,
        "unit": "scaling efficiency, 2 Ray workers vs 1 (2 cores)",
        "target": 0.5,
        "details": {"steps_per_second": rates},
    }


API_FIGURE = """
import sys
from pathlib import Path
from gradlogpi.experiments.sutton_barto import figure_13_1, write_figure
write_figure("13.1", figure_13_1(runs=100, episodes=1000, seed=0), Path(sys.argv[1]))
"""


def c1(repeats: int) -> dict:
    """Figure 13.1 in full from the command line (progress on) vs the same through the API.

    Both are whole processes (start-up, imports, the figure, its CSV and PNG), timed in
    turn in the same run; the ratio CLI / API must stay within 1.5: watching a run (the
    progress display) keeps the compiled path.
    """
    import tempfile

    def timed(command: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory() as out:
        cli = [sys.executable, "-m", "gradlogpi.cli", "experiment", "sutton-barto"]
        cli += ["--figure", "13.1", "--runs", "100", "--episodes", "1000", "--out", out]
        api = [sys.executable, "-c", API_FIGURE, out]
        timed(api)  # compile and cache the kernels once
        pairs = [(timed(cli), timed(api)) for _ in range(repeats)]
    ratios = [cli_time / api_time for cli_time, api_time in pairs]
    return {
        "id": "C1",
        "value": float(np.median(ratios)),
        "unit": "CLI / API time, Figure 13.1 in full",
        "target": 1.5,
        "details": {"cli_seconds": [c for c, _ in pairs], "api_seconds": [a for _, a in pairs]},
    }


def l1(repeats: int) -> dict:
    """The estimator lab on LQR from the command line, start to exit (the issue asks for
    under a minute): `gradlogpi experiment estimators --env gradlogpi/LQR-v0`."""
    import tempfile

    seconds = []
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "gradlogpi.cli", "experiment", "estimators"]
        command += ["--env", "gradlogpi/LQR-v0", "--out", out]
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            seconds.append(time.perf_counter() - start)
    return {
        "id": "L1",
        "value": float(np.median(seconds)),
        "unit": "seconds, the LQR estimator lab from the CLI",
        "target": 60.0,
        "details": {"seconds": seconds},
    }


def e1(repeats: int) -> dict:
    """Periodic evaluation's share of a shipped config's run: configs/cartpole_linear.toml
    with `eval_every` = 25 (15 evaluations) at the default `eval_episodes`.

    Within each run, the seconds spent in evaluations (what the progress line shows) over
    the run's other training seconds: both sides see the same machine load. The same for
    100 episodes per evaluation (the default before, the final evaluation's number) is
    in the details.
    """
    import tempfile

    from gradlogpi.runs.config import EVAL_EPISODES, load_config
    from gradlogpi.runs.train import train

    def share(episodes: int) -> float:
        config = load_config(
            "configs/cartpole_linear.toml",
            {"seed": 1, "eval_every": 25, "eval_episodes": episodes},
        )
        spent = [0.0]

        def count(seconds: float) -> None:
            spent[0] += seconds

        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            train(config, f"{out}/run", on_evaluation=count)
            total = time.perf_counter() - start
        return spent[0] / (total - spent[0])

    value, values = median_of(repeats, lambda: share(EVAL_EPISODES))
    before = [share(100) for _ in range(repeats)]
    return {
        "id": "E1",
        "value": value,
        "unit": f"evaluation / training time, eval_every=25, eval_episodes={EVAL_EPISODES}",
        "target": 0.10,
        "details": {"shares": values, "shares_at_100_episodes": before},
    }


def n1(repeats: int, runs: int = 16, updates: int = 100) -> dict:
    """16 seeds of the shipped neural CartPole PPO (configs/cartpole_neural.toml, JAX)
    learned together in one call (`runs = 16`: one vmapped update for all runs) against
    the same 16 runs learned one after another in one process, both after a warm-up that
    compiles their programs; `updates` updates per run. The figure is the ratio of the
    process's CPU seconds (one after another / together), measured back to back: on a
    shared machine other jobs' load changes the wall-clock of the two sides unequally
    (the wall-clock ratio is in the details)."""
    from gradlogpi.runs.config import load_config
    from gradlogpi.runs.train import run_algorithm

    config = load_config("configs/cartpole_neural.toml", {"hyperparameters.n_updates": updates})
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(0).spawn(runs)]
    run_algorithm(config.model_copy(update={"seed": 99}))  # compile both programs first
    run_algorithm(config.model_copy(update={"seed": 99, "runs": runs}))

    def ratio() -> float:
        wall, cpu = time.perf_counter(), time.process_time()
        for seed in seeds:
            run_algorithm(config.model_copy(update={"seed": seed}))
        one_after_another = (time.perf_counter() - wall, time.process_time() - cpu)
        wall, cpu = time.perf_counter(), time.process_time()
        run_algorithm(config.model_copy(update={"runs": runs}))
        together = (time.perf_counter() - wall, time.process_time() - cpu)
        timings.append(
            {
                "one_after_another_wall_s": one_after_another[0],
                "together_wall_s": together[0],
                "one_after_another_cpu_s": one_after_another[1],
                "together_cpu_s": together[1],
                "wall_ratio": one_after_another[0] / together[0],
            }
        )
        return one_after_another[1] / together[1]

    timings: list[dict[str, float]] = []
    value, values = median_of(repeats, ratio)
    return {
        "id": "N1",
        "value": value,
        "unit": f"x CPU time: {runs} neural PPO runs one after another / together ({updates} updates each)",
        "target": 2.0,
        "details": {"ratios": values, "timings": timings, "steps_per_run": updates * 8 * 32},
    }


BENCHMARKS = {
    "B1": b1,
    "B2": b2,
    "B3": b3,
    "B4": b4,
    "B5": b5,
    "B6": b6,
    "M1": lambda repeats: memory_growth(),
    "S1": s1,
    "C1": c1,
    "L1": l1,
    "E1": e1,
    "N1": n1,
}
LOWER_IS_BETTER = {"M1", "C1", "L1", "E1"}


def run_one(name: str, repeats: int) -> dict:
    figure = BENCHMARKS[name](repeats)
    figure["peak_rss_mb"] = round(peak_rss_mb(), 1)
    better = (
        figure["value"] <= figure["target"]
        if name in LOWER_IS_BETTER
        else figure["value"] >= figure["target"]
    )
    figure["met"] = bool(better)
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="figures to run")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (median reported)")
    args = parser.parse_args()
    names = args.only or list(BENCHMARKS)
    if len(names) == 1:
        print(json.dumps(run_one(names[0], args.repeats)), flush=True)
        return
    figures = []
    for name in names:  # a fresh process per figure, so its peak RSS is its own
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.run",
                "--only",
                name,
                "--repeats",
                str(args.repeats),
            ],
            capture_output=True,
            text=True,
        )
        lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        if completed.returncode != 0 or not lines:
            figure = {
                "id": name,
                "value": float("nan"),
                "unit": "error",
                "target": None,
                "met": False,
                "error": completed.stderr[-500:],
            }
        else:
            figure = json.loads(lines[-1])
        print(json.dumps(figure), flush=True)
        figures.append(figure)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gradlogpi benchmarks (this machine, this run)")
    for column in ("id", "value", "unit", "target", "met", "peak RSS MB"):
        table.add_column(column)
    for figure in figures:
        table.add_row(
            figure["id"],
            f"{figure['value']:.3g}",
            figure["unit"],
            str(figure["target"]),
            "yes" if figure["met"] else "no",
            str(figure.get("peak_rss_mb", "-")),
        )
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
