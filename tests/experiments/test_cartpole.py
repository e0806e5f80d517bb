"""CartPole-v1 solved by the shipped configs: the saved final policy, 10 fresh seeds.

The seeds measured were not used to choose the settings (see the configs' comments). A seed is
solved when its final policy averages ≥ 475 over 100 evaluation episodes whose seeds
training never used (stochastic actions, as trained).
"""

from pathlib import Path

import pytest

from gradlogpi.experiments.cartpole import SOLVED_RETURN, solve_study, summary

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


# the numbers the README states (measured 2026-12-02, JAX backend, no critic weight decay):
# (seeds, how many solved)
SOLVED_OF_TEN = {"cartpole_linear": (range(20, 30), 10), "cartpole_neural": (range(20, 30), 10)}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SOLVED_OF_TEN))
def test_the_final_policy_solves_cartpole_as_the_readme_says(name):
    if name == "cartpole_neural":
        pytest.importorskip("torch")
    seeds, solved = SOLVED_OF_TEN[name]
    outcomes = solve_study(CONFIGS / f"{name}.toml", seeds)
    assert summary(outcomes)["solved"] >= solved, outcomes
    for outcome in outcomes:
        assert outcome.solved == (outcome.evaluation_return >= SOLVED_RETURN)


@pytest.mark.slow
def test_stopping_when_solved_measures_episodes_to_solve():
    outcomes = solve_study(CONFIGS / "cartpole_linear.toml", range(2), stop_when_solved=True)
    for outcome in outcomes:
        if outcome.solved:
            assert outcome.evaluation_return >= SOLVED_RETURN
            assert outcome.steps < 390 * 8 * 32  # stopped before the whole 100k budget
