"""The registry: one signature for every algorithm, configs documented, names checked."""

import dataclasses
import inspect

import numpy as np
import pytest

from gradlogpi.algorithms import ALGORITHMS, ReinforceConfig, StopTraining, reinforce
from gradlogpi.algorithms.compiled import tabular as compiled
from gradlogpi.algorithms.registry import field_docstrings, get
from gradlogpi.core.scores import linear_softmax_score
from gradlogpi.experiments.sutton_barto import ENV_ID, corridor_policy

SIGNATURE = ["env", "policy", "config", "value", "seed", "runs", "callback", "resume"]


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_has_the_one_signature(name):
    parameters = inspect.signature(ALGORITHMS[name].learn).parameters
    assert list(parameters) == SIGNATURE
    assert [p.kind for p in parameters.values()][3:] == [inspect.Parameter.KEYWORD_ONLY] * 5
    assert all(parameters[key].default is None for key in SIGNATURE[3:])


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_config_field_is_documented_and_frozen(name):
    config_class = ALGORITHMS[name].config_class
    docs = field_docstrings(config_class)
    fields = [field.name for field in dataclasses.fields(config_class)]
    assert [field for field in fields if not docs.get(field)] == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        config_class().gamma = 0.5  # type: ignore[misc]


def test_the_registry_says_what_each_config_needs():
    from gradlogpi.algorithms import BatchPolicyGradientConfig

    batch = get("batch_pg")
    assert not batch.needs_value(BatchPolicyGradientConfig())
    assert batch.needs_value(BatchPolicyGradientConfig(baseline="value"))
    for name in ("batch_pg", "a2c", "ppo", "trpo"):  # the on-policy loop resumes them all
        config = get(name).config_class(collection="steps")
        assert get(name).not_resumable(config) is None
    assert batch.total(BatchPolicyGradientConfig(n_updates=7)) == 7 and batch.unit == "updates"
    assert get("actor_critic").needs_value(None) and get("reinforce").lockstep_runs
    with pytest.raises(
        ValueError, match=r"`algorithm` must be one of \[.*'reinforce'.*\]; got 'sac'"
    ):
        get("sac")


def test_algorithms_name_their_missing_or_unwanted_critic():
    from gradlogpi.algorithms import ActorCriticConfig, actor_critic
    from gradlogpi.features import Constant
    from gradlogpi.policies import LinearValue

    with pytest.raises(ValueError, match="`value` must be a critic"):
        actor_critic(ENV_ID, corridor_policy(), ActorCriticConfig(n_episodes=1))
    with pytest.raises(ValueError, match="`value` must be None for reinforce"):
        reinforce(
            ENV_ID, corridor_policy(), ReinforceConfig(n_episodes=1), value=LinearValue(Constant())
        )


@pytest.fixture
def compiled_path(monkeypatch):
    monkeypatch.setenv("GRADLOGPI_NO_JIT", "0")
    if not compiled.available():
        pytest.skip("the compiled path needs the `fast` extra (Numba)")


def test_a_watched_compiled_run_reports_in_chunks_and_learns_the_same(compiled_path):
    config = ReinforceConfig(n_episodes=200, alpha_theta=2**-12)
    reports = []
    watched = reinforce(ENV_ID, corridor_policy(), config, seed=1, runs=4, callback=reports.append)
    alone = reinforce(ENV_ID, corridor_policy(), config, seed=1, runs=4)
    # about 50 reports, not 200: the compiled path is kept while someone watches
    assert 2 <= len(reports) <= 50
    assert sum(end.units for end in reports) == config.n_episodes
    assert [end.episode for end in reports][-1] == config.n_episodes - 1
    assert all(end.returns.shape == (4, end.units) for end in reports)
    np.testing.assert_array_equal(
        np.concatenate([e.lengths for e in reports], axis=1), alone.lengths
    )
    np.testing.assert_array_equal(watched.parameters, alone.parameters)


def test_stop_training_ends_a_compiled_run_at_the_report(compiled_path):
    config = ReinforceConfig(n_episodes=200, alpha_theta=2**-12)

    def stop(end):
        raise StopTraining

    result = reinforce(ENV_ID, corridor_policy(), config, seed=1, runs=2, callback=stop)
    assert 1 <= result.returns.shape[1] < config.n_episodes


def test_the_compiled_score_equals_core(rng):
    features = rng.standard_normal((5, 3, 4))  # φ(s, a) for 5 states, 3 actions, d = 4
    theta = rng.standard_normal(4)
    for state in range(5):
        for action in range(3):
            preferences, score = np.zeros(3), np.zeros(4)
            largest = compiled._preferences_at_python(features, state, theta, preferences)
            compiled._score_at_python(features, state, action, preferences, largest, score)
            expected = linear_softmax_score(theta, features[state], action)
            np.testing.assert_allclose(score, expected, rtol=1e-12, atol=1e-14)
