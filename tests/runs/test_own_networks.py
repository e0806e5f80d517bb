"""Your own network named in a config: trained, resumed to the uninterrupted run, evaluated."""

import numpy as np
import pytest

from gradlogpi.errors import ConfigError
from gradlogpi.runs.checkpoints import load_checkpoint
from gradlogpi.runs.config import load_config

FACTORIES = "tests.runs.network_factories"


def own_network_config(tmp_path, backend, policy_kind="neural_softmax", env="CartPole-v1"):
    text = f"""
env = "{env}"
algorithm = "ppo"
seed = 3
checkpoint_every = 2
[policy]
kind = "{policy_kind}"
backend = "{backend}"
network = "{FACTORIES}:{backend}_network"
lr = 0.003
[value]
kind = "neural"
network = "{FACTORIES}:{backend}_network"
epochs = 2
minibatches = 2
[hyperparameters]
n_updates = 4
num_envs = 2
steps_per_env = 16
epochs = 2
minibatches = 2
"""
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_configured_network_trains_resumes_to_the_same_run_and_evaluates(tmp_path, backend):
    pytest.importorskip(backend)
    from gradlogpi.runs.build import build_policy, build_value, make_config_env
    from gradlogpi.runs.evaluate import evaluate
    from gradlogpi.runs.train import resume, train

    config = load_config(own_network_config(tmp_path, backend))
    env = make_config_env(config)
    policy, value = build_policy(config, env), build_value(config, env)
    env.close()
    expected = {"torch": "TorchModule", "jax": "JaxFunction"}[backend]
    assert type(policy).__name__ == f"{expected}SoftmaxPolicy"
    assert type(value).__name__ == f"{expected}Value"
    # 4-16 (+ layer norm's 32 in torch) -16-2
    assert policy.n_parameters == {"torch": 80 + 32 + 34, "jax": 80 + 34}[backend]

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train(config, straight)

    def die(end):
        if end.episode == 2:  # after the checkpoint of updates 0-1
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        train(config, killed, callback=die)
    resume(killed)
    arrays_straight, meta_straight = load_checkpoint(straight / "checkpoint")
    arrays_killed, meta_killed = load_checkpoint(killed / "checkpoint")
    for name in arrays_straight:
        np.testing.assert_array_equal(arrays_killed[name], arrays_straight[name], err_msg=name)
    assert meta_killed["state"] == meta_straight["state"]
    evaluation = evaluate(straight, episodes=3, seed=1)
    assert np.isfinite(evaluation.mean_return) and evaluation.mean_return >= 8


def test_a_configured_gaussian_network_trains_on_pendulum(tmp_path):
    pytest.importorskip("torch")
    from gradlogpi.runs.train import train

    config = load_config(
        own_network_config(tmp_path, "torch", "neural_gaussian", "Pendulum-v1"),
        {"policy.squash": True},
    )
    train(config, tmp_path / "run")
    arrays, _ = load_checkpoint(tmp_path / "run" / "checkpoint")
    # 3-16 (+ layer norm's 32) -1 and log σ's η
    assert np.isfinite(arrays["theta"]).all() and arrays["theta"].shape[-1] == 64 + 32 + 17 + 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"policy.network": f"{FACTORIES}:failing"},
            r"`policy.network` = .*:failing' failed, called with \(observation_shape=\(4,\), outputs=2, seed=3\): RuntimeError: no network today",
        ),
        (
            {"policy.network": "no_such_module:network"},
            r"`policy.network` = 'no_such_module:network': ModuleNotFoundError: No module named 'no_such_module'",
        ),
        ({"policy.network": f"{FACTORIES}:absent"}, r"has no function 'absent'"),
        (
            {"policy.network": f"{FACTORIES}:not_a_pair", "policy.backend": "jax"},
            r"must return \(apply, parameters\) for policy.backend = 'jax'; got str",
        ),
        (
            {"policy.kind": "matrix_softmax"},
            r"`policy.network` is your own network for a neural policy; `policy.kind` = 'matrix_softmax'",
        ),
        (
            {"value.kind": "linear"},
            r"`value.network` is your own network for a neural critic; it needs `value.kind` = 'neural'",
        ),
    ],
)
def test_a_configured_network_that_cannot_be_built_is_named(tmp_path, overrides, message):
    pytest.importorskip("torch")
    if overrides.get("policy.backend") == "jax":
        pytest.importorskip("jax")
    from gradlogpi.runs.build import build_policy, build_value, make_config_env

    config = load_config(own_network_config(tmp_path, "torch"), overrides)
    env = make_config_env(config)
    with pytest.raises(ConfigError, match=message):
        build_policy(config, env)
        build_value(config, env)


def test_runs_of_a_configured_jax_network_learn_together(tmp_path):
    """The function returns a new `apply` closure for each run's seed; the runs share the
    first (one compiled program), each with its own initial parameters."""
    pytest.importorskip("jax")
    from gradlogpi.runs.train import train

    config = load_config(own_network_config(tmp_path, "jax"), {"runs": 2})
    train(config, tmp_path / "run")
    arrays, _ = load_checkpoint(tmp_path / "run" / "checkpoint")
    theta = arrays["theta"]
    assert theta.shape[0] == 2 and np.isfinite(theta).all()
    assert not np.allclose(theta[0], theta[1])


def test_gsde_with_a_configured_network_is_refused_naming_both_keys(tmp_path):
    pytest.importorskip("torch")
    from gradlogpi.runs.build import build_policy, make_config_env

    config = load_config(
        own_network_config(tmp_path, "torch", "neural_gaussian", "Pendulum-v1"),
        {"policy.gsde.sample_every": 4},
    )
    with pytest.raises(ConfigError, match=r"`policy.gsde` builds σ\(s\) .* `policy.network`"):
        build_policy(config, make_config_env(config))


def test_a_module_that_fails_on_import_is_named(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import gradlogpi.runs.own_networks as own_networks
    from gradlogpi.runs.build import build_policy, make_config_env

    def broken(name):
        raise NameError("name 'torhc' is not defined")

    config = load_config(own_network_config(tmp_path, "torch"))
    env = make_config_env(config)
    monkeypatch.setattr(own_networks.importlib, "import_module", broken)
    with pytest.raises(ConfigError, match=r"`policy.network` = .*: NameError: name 'torhc'"):
        build_policy(config, env)


def test_a_network_name_must_read_module_colon_function(tmp_path):
    with pytest.raises(ConfigError, match=r"expected 'module:function'"):
        load_config(own_network_config(tmp_path, "torch"), {"policy.network": "just_a_name"})
