"""Numbers the library produced before the algorithm-contract redesign, pinned.

A restructuring of the layers between `core` and `runs` must not change a single number
for the same seed: these cases ran on the code before it, and their returns and final
parameters are kept in tests/data/pinned_numbers.json. Run this module as a script
(`python -m tests.algorithms.test_pinned_numbers`) only to re-pin after a deliberate change.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gradlogpi.algorithms import (
    ActorCriticConfig,
    ReinforceBaselineConfig,
    ReinforceConfig,
    actor_critic,
    reinforce,
    reinforce_baseline,
)
from gradlogpi.algorithms.on_policy.batch_pg import BatchPolicyGradientConfig, batch_policy_gradient
from gradlogpi.experiments.sutton_barto import ENV_ID, corridor_policy
from gradlogpi.features import Constant, RawState
from gradlogpi.policies import LinearValue, MatrixSoftmaxPolicy

PINNED = Path(__file__).parents[1] / "data" / "pinned_numbers.json"


def _watch(end):
    """A callback: the runs must be the same whether or not something watches them."""


def figure_13_1(callback=None):
    config = ReinforceConfig(n_episodes=50, alpha_theta=2**-12)
    return reinforce(ENV_ID, corridor_policy(), config, seed=0, runs=5, callback=callback)


def figure_13_2_baseline():
    config = ReinforceBaselineConfig(n_episodes=40, alpha_theta=2**-9, alpha_w=2**-6)
    return reinforce_baseline(
        ENV_ID, corridor_policy(), config, value=LinearValue(Constant()), seed=1, runs=4
    )


def corridor_actor_critic():
    config = ActorCriticConfig(n_episodes=40, lambda_theta=0.5, lambda_w=0.5)
    return actor_critic(
        ENV_ID, corridor_policy(), config, value=LinearValue(Constant()), seed=2, runs=3
    )


def cartpole_batch(collection):
    config = BatchPolicyGradientConfig(
        n_updates=2, episodes_per_update=8, num_envs=4, collection=collection, steps_per_env=32
    )
    policy = MatrixSoftmaxPolicy(RawState(4), 2).init(np.random.default_rng(0), scale=0.3)
    return batch_policy_gradient("CartPole-v1", policy, config, seed=3)


def cartpole_neural():
    from gradlogpi.algorithms.book.neural_reinforce import NeuralReinforceConfig, neural_reinforce
    from gradlogpi.policies.networks import AdamSettings
    from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy

    # as pinned: uniform weights and Adam's ε of then (PyTorch's 1e-8; now 1e-5 by default)
    adam = AdamSettings(0.01, 1e-8)
    policy = NeuralSoftmaxPolicy(4, 2, (8,), seed=1, lr=adam, initialization="uniform")
    return neural_reinforce("CartPole-v1", policy, NeuralReinforceConfig(n_episodes=3), seed=4)


CASES = {
    "figure_13_1": figure_13_1,
    "figure_13_1_watched": lambda: figure_13_1(_watch),
    "figure_13_2_baseline": figure_13_2_baseline,
    "corridor_actor_critic": corridor_actor_critic,
    "cartpole_batch_episodes": lambda: cartpole_batch("episodes"),
    "cartpole_batch_steps": lambda: cartpole_batch("steps"),
    "cartpole_neural": cartpole_neural,
}


def numbers(result) -> dict[str, list]:
    return {
        "returns": result.returns.tolist(),
        "lengths": result.lengths.tolist(),
        "parameters": np.asarray(result.parameters).tolist(),
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_redesign_changes_no_number(name):
    if name == "cartpole_neural":
        pytest.importorskip("torch")
    expected = json.loads(PINNED.read_text())[name]
    got = numbers(CASES[name]())
    np.testing.assert_array_equal(got["returns"], expected["returns"])
    np.testing.assert_array_equal(got["lengths"], expected["lengths"])
    # the compiled and NumPy paths agree to rounding, not to the bit
    np.testing.assert_allclose(got["parameters"], expected["parameters"], rtol=1e-9, atol=1e-12)


if __name__ == "__main__":
    PINNED.write_text(json.dumps({name: numbers(case()) for name, case in CASES.items()}))
