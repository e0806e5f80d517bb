#!/usr/bin/env bash
# The project's set-up and entry points. Needs only Python 3.11 and pip.
#   bash dev.sh demo       set up .venv, run the main demo
#   bash dev.sh test       set up .venv with test tools, run the whole default test suite
#   bash dev.sh reproduce  long reproductions (pytest -m slow)
#   bash dev.sh bench      benchmarks: B1-B6 etc., then P1-P8 beside the peers (own venv)
#   bash dev.sh docs       the documentation site, strict, into site/ (docs serve: live)
#   bash dev.sh compare    our PPO and A2C against Stable-Baselines3's and SBX's (own venv; --quick: minutes)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  # torch first, pinned: the 2.13.0 CPU wheel is the one available offline here;
  # the package's own extra only asks for torch>=2.13, which this satisfies.
  "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
  # JAX likewise pinned first (the compiled neural backend, policy.backend = "jax"), with
  # ml_dtypes 0.6.0: 0.7.0 took about a second to import with NumPy 2.4 (docs/guide/backends.md)
  "$VENV/bin/python" -m pip install --quiet "jax==0.10.2" "jaxlib==0.10.2" "ml_dtypes==0.6.0"
  "$VENV/bin/python" -m pip install --quiet -e ".[torch,jax,tensorboard,video,fast,test,docs,tune]"
  # Box2D (LunarLander) is optional: without it that config's test is skipped
  "$VENV/bin/python" -m pip install --quiet "gymnasium[box2d]>=1.0" || echo "Box2D could not be installed; LunarLander will be unavailable"
  # MuJoCo is optional: without it the MuJoCo configs' tests (InvertedPendulum, Hopper) are skipped
  "$VENV/bin/python" -m pip install --quiet "gymnasium[mujoco]>=1.0" || echo "MuJoCo could not be installed; the MuJoCo configs will be unavailable"
  # EnvPool is optional (vectorization_mode = "envpool"): without it its tests are skipped
  "$VENV/bin/python" -m pip install --quiet "envpool==1.2.5" || echo "EnvPool could not be installed; its tests will be skipped"
  # Ray is optional: without it the Ray tests are skipped, everything else runs
  "$VENV/bin/python" -m pip install --quiet "ray>=2.9" || echo "Ray could not be installed; its tests will be skipped"
}

task="${1:-}"
case "$task" in
  demo)
    setup
    "$VENV/bin/python" -m gradlogpi.demo
    ;;
  test)
    setup
    export PYTHONHASHSEED=0 MPLBACKEND=Agg
    "$VENV/bin/python" -m pytest -n 2 --dist loadgroup -q "${@:2}"
    ;;
  reproduce)
    setup
    export PYTHONHASHSEED=0 MPLBACKEND=Agg
    "$VENV/bin/python" -m pytest -q -m slow "${@:2}"
    ;;
  bench)
    # B1-B6, M1, S1, C1 in the project's venv; P1-P8 beside the peer libraries, which live
    # in their own venv (the `bench` extra): they are never dependencies of gradlogpi
    setup
    "$VENV/bin/python" -m benchmarks.run "${@:2}"
    if [ ! -x .venv-bench/bin/python ]; then
      "$PYTHON" -m venv .venv-bench
    fi
    .venv-bench/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    .venv-bench/bin/python -m pip install --quiet "torch==2.13.0"
    .venv-bench/bin/python -m pip install --quiet -e ".[torch,fast,bench]"
    .venv-bench/bin/python -m benchmarks.paths --markdown
    ;;
  docs)
    # the site, strict (a warning is an error), into site/ (untracked); `docs serve`: live
    setup
    export NO_MKDOCS_2_WARNING=1
    if [ "${2:-}" = "serve" ]; then
      "$VENV/bin/mkdocs" serve --strict "${@:3}"
    else
      "$VENV/bin/mkdocs" build --strict "${@:2}"
    fi
    ;;
  compare)
    # the peers live in their own venv: Stable-Baselines3 and SBX are never dependencies of ours
    if [ ! -x .venv-compare/bin/python ]; then
      "$PYTHON" -m venv .venv-compare
    fi
    .venv-compare/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    .venv-compare/bin/python -m pip install --quiet "torch==2.13.0"
    # JAX pinned first, as in setup(): our JAX backend and SBX run on the same jax
    .venv-compare/bin/python -m pip install --quiet "jax==0.10.2" "jaxlib==0.10.2" "ml_dtypes==0.6.0"
    .venv-compare/bin/python -m pip install --quiet -e ".[torch,jax,fast,compare]"
    .venv-compare/bin/python -m benchmarks.compare "${@:2}"
    ;;
  *)
    echo "usage: bash dev.sh {demo|test|reproduce|bench|docs|compare}" >&2
    exit 2
    ;;
esac
