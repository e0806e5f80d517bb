"""CartPole-v1 solved (≥ 475 over 100 evaluation episodes) by linear and neural softmax policies."""

from pathlib import Path

import pytest

from gradlogpi.experiments.cartpole import solve_study, summary

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cartpole_linear", "cartpole_neural"])
def test_cartpole_solved_by_at_least_four_of_five_seeds(name):
    if name == "cartpole_neural":
        pytest.importorskip("torch")
    outcomes = solve_study(CONFIGS / f"{name}.toml", range(5))
    result = summary(outcomes)
    assert result["solved"] >= 4, outcomes
    for outcome in outcomes:
        if outcome.solved:
            assert outcome.evaluation_return >= 475.0
