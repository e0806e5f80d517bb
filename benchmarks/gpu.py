"""What a GPU changes for neural training: the same work on JAX's GPU and on its CPU, on one
machine, in one run (each side in its own process, `JAX_PLATFORMS=cuda` or `cpu`).

    python -m benchmarks.gpu                 every figure (CPU alone where JAX finds no GPU)
    python -m benchmarks.gpu --only G1 G3    some of them

G1  CartPole PPO (configs/cartpole_neural.toml): `gradlogpi train` from launch to exit,
    the platforms alternating, after one run each that fills the compile cache
G2  16 seeds of it (100 updates each) learned together (`runs = 16`, one vmapped update)
    against one after another in one process: wall-clock (benchmarks.run's N1)
G3  one PPO update of the same config with wider networks (two hidden layers of 64, 256,
    1024, 4096), after a run that compiles it: the whole run per update (the host's
    float64 initialisation and acting included) and the compiled update call alone
G4  the JAX policy tests (float64 gradient checks against finite differences) on the GPU

Prints one JSON line per figure, then a table. The GPU's figures are this machine's; the
CPU side is the same machine's cores (XLA uses all of them), not the CI's two.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = "configs/cartpole_neural.toml"
PLATFORMS = ("cuda", "cpu")
WIDTHS = (64, 256, 1024, 4096)


def gpu_present() -> bool:
    """Whether JAX finds a CUDA device (asked in a child, so this process stays JAX-free)."""
    probe = "import jax; print(jax.devices('cuda'))"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=platform_env("cuda")
    )
    return completed.returncode == 0


def platform_env(platform: str) -> dict[str, str]:
    env = dict(os.environ, JAX_PLATFORMS=platform, GRADLOGPI_CURVE_PROCESS="on")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, ["src", env.get("PYTHONPATH")]))
    return env


def train_command(run_dir: Path, seed: int) -> list[str]:
    """`gradlogpi train` as the user types it (the installed script where there is one)."""
    arguments = ["train", "--quiet", "--config", CONFIG, "--seed", str(seed)]
    arguments += ["--run-dir", str(run_dir)]
    script = shutil.which("gradlogpi")
    if script is not None:
        return [script, *arguments]
    return [sys.executable, "-c", "from gradlogpi.cli import main; main()", *arguments]


def launch_to_exit(platform: str, run_dir: Path, seed: int) -> tuple[float, float]:
    """Seconds from launch to exit, and the final evaluation's mean return."""
    start = time.perf_counter()
    completed = subprocess.run(
        train_command(run_dir, seed), capture_output=True, text=True, env=platform_env(platform)
    )
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"train on {platform} failed:\n{completed.stderr[-2000:]}")
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    return seconds, float(evaluation["final"][0]["mean_return"])


def g1(platforms: tuple[str, ...], pairs: int) -> dict:
    seconds: dict[str, list[float]] = {p: [] for p in platforms}
    returns: dict[str, list[float]] = {p: [] for p in platforms}
    with tempfile.TemporaryDirectory() as scratch:
        for platform in platforms:  # fills the compile cache
            launch_to_exit(platform, Path(scratch) / f"warm-{platform}", 99)
        for pair in range(pairs):
            for platform in platforms:
                taken, final = launch_to_exit(platform, Path(scratch) / f"{platform}-{pair}", pair)
                seconds[platform].append(taken)
                returns[platform].append(final)
    figure: dict = {
        "id": "G1",
        "what": "CartPole PPO, gradlogpi train launch to exit (s), median",
        "median_s": {p: statistics.median(v) for p, v in seconds.items()},
        "seconds": seconds,
        "final_returns": returns,
    }
    if len(platforms) == 2:
        figure["cpu_over_gpu"] = figure["median_s"]["cpu"] / figure["median_s"]["cuda"]
    return figure


def worker(platform: str, task: list[str]) -> dict:
    """Runs `python -m benchmarks.gpu --worker TASK...` on one platform; its last line."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu", "--worker", *task],
        capture_output=True,
        text=True,
        env=platform_env(platform),
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{task} on {platform} failed:\n{completed.stderr[-2000:]}")
    return json.loads(lines[-1])


def g2(platforms: tuple[str, ...]) -> dict:
    timings = {p: worker(p, ["seeds"]) for p in platforms}
    return {
        "id": "G2",
        "what": "16 CartPole PPO seeds x 100 updates: together vs one after another (wall s)",
        "timings": timings,
    }


def g3(platforms: tuple[str, ...], updates: int) -> dict:
    timings = {
        p: {str(w): worker(p, ["width", str(w), str(updates)]) for w in WIDTHS} for p in platforms
    }
    figure: dict = {
        "id": "G3",
        "what": f"one PPO update (8 x 32 steps, 20 epochs of 256), hidden [w, w], s ({updates} updates)",
        "per_update_s": {
            p: {w: t["per_update_s"] for w, t in by.items()} for p, by in timings.items()
        },
        "compiled_update_s": {
            p: {w: t["compiled_update_s"] for w, t in by.items()} for p, by in timings.items()
        },
    }
    if len(platforms) == 2:
        figure["cpu_over_gpu"] = {
            w: timings["cpu"][w]["compiled_update_s"] / timings["cuda"][w]["compiled_update_s"]
            for w in timings["cpu"]
        }
    return figure


def g4() -> dict:
    groups = [
        ["tests/policies/test_jax_policies.py", "tests/policies/test_jax_function.py"],
        [
            "tests/policies/test_gsde.py",
            "tests/algorithms/test_trpo.py",
            "tests/algorithms/test_on_policy_runs_together.py",
            "-k",
            "jax",
        ],
    ]
    env = dict(platform_env("cuda"), PYTHONHASHSEED="0", MPLBACKEND="Agg")
    start = time.perf_counter()
    summaries, failures, codes, messages = [], [], [], []
    for tests in groups:
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", *tests, "-q", "--tb=short", "-p", "no:cacheprovider"],
            capture_output=True,
            text=True,
            env=env,
        )
        codes.append(completed.returncode)
        lines = completed.stdout.strip().splitlines()
        summaries.append(lines[-1] if lines else completed.stderr[-500:])
        failures += [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        if completed.returncode != 0:  # the assertions' messages, not only the names
            messages.append(completed.stdout[-3000:])
    return {
        "id": "G4",
        "what": "JAX policy tests on the GPU",
        "returncodes": codes,
        "summaries": summaries,
        "failed": failures[:30],
        "messages": messages,
        "seconds": time.perf_counter() - start,
    }


def run_worker(task: list[str]) -> dict:
    import jax

    from gradlogpi.runs.config import load_config
    from gradlogpi.runs.train import run_algorithm

    device = str(jax.devices()[0])
    if task[0] == "seeds":
        from benchmarks.run import n1

        return {"device": device, **n1(1)["details"]["timings"][0]}
    width, updates = int(task[1]), int(task[2])
    hidden = {"policy.hidden": [width, width], "value.hidden": [width, width]}
    warm = load_config(CONFIG, {**hidden, "hyperparameters.n_updates": 2})
    run_algorithm(warm)  # compiles the update for these shapes
    in_updates = time_the_updates()
    timed = load_config(CONFIG, {**hidden, "hyperparameters.n_updates": updates})
    start = time.perf_counter()
    run_algorithm(timed)
    return {
        "device": device,
        "per_update_s": (time.perf_counter() - start) / updates,
        "compiled_update_s": sum(in_updates) / updates,
    }


def time_the_updates() -> list[float]:
    """Seconds of each compiled update call from now on (both networks, one call; it
    returns once its results are on the host), apart from the run's host-side work: the
    orthogonal initialisation and acting, in float64 NumPy."""
    from gradlogpi.policies.jax_policies import JaxPolicy

    seconds: list[float] = []
    update = JaxPolicy.maximize_minibatches

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return update(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)

    JaxPolicy.maximize_minibatches = timed  # type: ignore[method-assign]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", choices=["G1", "G2", "G3", "G4"])
    parser.add_argument("--pairs", type=int, default=3, help="G1's alternating pairs")
    parser.add_argument("--updates", type=int, default=5, help="G3's timed updates")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker)), flush=True)
        return
    platforms = PLATFORMS if gpu_present() else ("cpu",)
    print(json.dumps({"platforms": platforms}), flush=True)
    chosen = args.only or ["G4", "G1", "G3", "G2"]
    measures = {
        "G1": lambda: g1(platforms, args.pairs),
        "G2": lambda: g2(platforms),
        "G3": lambda: g3(platforms, args.updates),
        "G4": g4,
    }
    for name in chosen:
        if name == "G4" and "cuda" not in platforms:
            continue
        start = time.perf_counter()
        try:
            figure = measures[name]()
        except RuntimeError as error:
            figure = {"id": name, "error": str(error)}
        figure["wall_s"] = round(time.perf_counter() - start, 1)
        print(json.dumps(figure), flush=True)


if __name__ == "__main__":
    main()
