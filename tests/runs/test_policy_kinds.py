import importlib.util
import re

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import gradlogpi.envs  # noqa: F401  (registers the shipped environments)
from gradlogpi import features, policies
from gradlogpi.errors import ConfigError
from gradlogpi.runs import policy_kinds
from gradlogpi.runs.build import build_policy, make_config_env
from gradlogpi.runs.choices import listed
from gradlogpi.runs.config import load_config
from gradlogpi.runs.policy_kinds import POLICY_KINDS, PolicyKind

CANDIDATES = ["CartPole-v1", "gradlogpi/LQR-v0", "gradlogpi/ShortCorridor-v0"]
"""Environments to build a kind on: Discrete and Box actions, Box and Discrete observations."""


def env_id_for(kind: PolicyKind) -> str:
    """An environment whose spaces `kind` takes, read from its registry entry."""
    for env_id in CANDIDATES:
        env = gym.make(env_id)
        if isinstance(env.action_space, kind.action_spaces) and (
            not kind.observations or isinstance(env.observation_space, kind.observations)
        ):
            return env_id
    raise AssertionError(f"no candidate environment fits {kind}")


@pytest.mark.parametrize("name", list(POLICY_KINDS))
def test_every_registered_kind_builds_a_policy_that_fits_the_env(name, rng):
    kind = POLICY_KINDS[name]
    if kind.family == "torch":
        pytest.importorskip("torch")
    config = load_config(None, {"env": env_id_for(kind), "policy.kind": name})
    env = make_config_env(config)
    policy = build_policy(config, env)
    obs, _ = env.reset(seed=0)
    action = policy.sample_from_noise(obs, policy.transform_noise(rng.random(policy.noise_size)))
    if isinstance(env.action_space, spaces.Discrete):
        assert policy.n_actions == env.action_space.n
        assert np.shape(action) == () and 0 <= int(action) < env.action_space.n
    else:
        assert policy.action_dim == env.action_space.shape[0]
        assert np.shape(action) == env.action_space.shape
    assert np.isfinite(policy.log_prob(obs, action))
    assert policy.score(obs, action).shape == (policy.n_parameters,)
    assert policy.get_flat().shape == (policy.n_parameters,)


def test_the_corridor_kind_takes_phi_directly():
    config = load_config(
        None,
        {"env": "gradlogpi/ShortCorridor-v0", "algorithm": "reinforce", "policy.p_right0": 0.3},
    )
    env = make_config_env(config)
    policy = build_policy(config, env)
    assert isinstance(policy, policies.LinearSoftmaxPolicy)
    assert np.isclose(policy.probabilities(0)[1], 0.3)
    takers = [kind.name for kind in POLICY_KINDS.values() if kind.state_action]
    matrix = config.model_copy(
        update={"policy": config.policy.model_copy(update={"kind": "matrix_softmax"})}
    )
    with pytest.raises(
        ConfigError,
        match=re.escape(
            f"`features.kind` = 'corridor' gives φ(s,a) directly: use it with policy.kind = "
            f"{listed(takers)}"
        ),
    ):
        build_policy(matrix, env)


def test_a_kind_refuses_an_action_space_it_does_not_take():
    config = load_config(None, {"env": "CartPole-v1", "policy.kind": "linear_gaussian"})
    with pytest.raises(
        ConfigError,
        match=re.escape("`policy.kind` = 'linear_gaussian' needs a Box action space; got Discrete"),
    ):
        build_policy(config, make_config_env(config))


def test_an_unknown_kind_lists_the_kinds_and_suggests_the_close_one():
    names = listed(list(POLICY_KINDS))
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"`policy.kind` = 'nueral_softmax': expected one of {names}; "
            "did you mean 'neural_softmax'?"
        ),
    ):
        policy_kinds.get("nueral_softmax")
    with pytest.raises(
        ConfigError,
        match=re.escape(
            f"--set policy.kind: `policy.kind` = 'linear_gausian': expected one of {names}; "
            "did you mean 'linear_gaussian'?"
        ),
    ):
        load_config(None, {"policy.kind": "linear_gausian"})
    with pytest.raises(ConfigError) as error:
        load_config(None, {"policy.kind": "tabular"})
    assert str(error.value).endswith(f"`policy.kind` = 'tabular': expected one of {names}")


class Marked(policies.MatrixSoftmaxPolicy):
    """A matrix softmax over the raw observation, so a test can tell it was built."""


def marked(config, env):
    x = features.RawState(env.observation_space.shape[0])
    return Marked(x, int(env.action_space.n))


@pytest.fixture
def registered():
    """Register kinds for one test; remove them after it."""
    names = []

    def register(kind: PolicyKind) -> PolicyKind:
        names.append(kind.name)
        return policy_kinds.register(kind)

    yield register
    for name in names:
        del POLICY_KINDS[name]


def test_a_kind_registered_once_is_configured_and_built_with_no_other_change(registered):
    registered(PolicyKind("marked", "a test's kind", "array", (spaces.Discrete,), marked))
    config = load_config(None, {"env": "CartPole-v1", "policy.kind": "marked"})
    policy = build_policy(config, make_config_env(config))
    assert isinstance(policy, Marked) and policy.n_actions == 2
    assert "marked" in listed(list(POLICY_KINDS))
    config = load_config(None, {"env": "gradlogpi/LQR-v0", "policy.kind": "marked"})
    with pytest.raises(
        ConfigError, match=re.escape("`policy.kind` = 'marked' needs a Discrete action space")
    ):
        build_policy(config, make_config_env(config))


def test_the_config_reads_a_kinds_family(registered):
    registered(PolicyKind("marked", "a test's kind", "torch", (spaces.Discrete,), marked))
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "`policy.kind` = 'marked' cannot be learned by algorithm 'reinforce', which needs a "
            "linear policy"
        ),
    ):
        load_config(None, {"policy.kind": "marked", "algorithm": "reinforce"})
    load_config(None, {"policy.kind": "marked", "algorithm": "neural_reinforce"})


def test_the_registry_refuses_a_name_twice():
    with pytest.raises(
        ValueError, match=re.escape("`name` 'matrix_softmax' is already registered")
    ):
        policy_kinds.register(POLICY_KINDS["matrix_softmax"])


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("kind", ["neural_softmax", "neural_gaussian"])
def test_neural_kinds_build_on_either_backend_with_its_critic(tmp_path, backend, kind):
    pytest.importorskip(backend)
    from gradlogpi.runs.build import build_value

    env_id = "CartPole-v1" if kind == "neural_softmax" else "Pendulum-v1"
    path = tmp_path / "config.toml"
    path.write_text(
        f'env = "{env_id}"\nalgorithm = "ppo"\n[policy]\nkind = "{kind}"\n'
        f'backend = "{backend}"\n[value]\nkind = "neural"\n'
    )
    config = load_config(path)
    env = make_config_env(config)
    policy, critic = build_policy(config, env), build_value(config, env)
    assert isinstance(policy, policies.NetworkPolicy)
    assert type(policy).__module__.endswith(f"{backend}_policies")
    assert type(critic).__module__.endswith(f"{backend}_policies")
    assert (policy.adam_epsilon, critic.adam_epsilon) == (1e-5, 1e-5)  # SB3's PPO's ε


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_the_configs_adam_settings_reach_policy_and_critic(tmp_path, backend):
    pytest.importorskip(backend)
    from gradlogpi.runs.build import build_value

    path = tmp_path / "config.toml"
    path.write_text(
        f'algorithm = "ppo"\n[policy]\nkind = "neural_softmax"\nbackend = "{backend}"\n'
        "lr = 0.002\nadam_epsilon = 1e-8\n"
        '[value]\nkind = "neural"\nlr = 0.003\nadam_epsilon = 0.1\n'
    )
    config = load_config(path)
    env = make_config_env(config)
    policy, critic = build_policy(config, env), build_value(config, env)
    assert (policy.lr, policy.adam_epsilon) == (0.002, 1e-8)
    assert (critic.lr, critic.adam_epsilon) == (0.003, 0.1)


@pytest.mark.parametrize("table", ["policy", "value"])
def test_adam_epsilon_must_be_positive(tmp_path, table):
    path = tmp_path / "config.toml"
    path.write_text(f"[{table}]\nadam_epsilon = 0\n")
    with pytest.raises(ConfigError, match=rf"{table}\.adam_epsilon"):
        load_config(path)


def test_the_torch_backend_refuses_float32_by_name(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "config.toml"
    path.write_text('[policy]\nkind = "neural_softmax"\nbackend = "torch"\ndtype = "float32"\n')
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"`policy.dtype` = 'float32' needs `policy.backend`"):
        build_policy(config, make_config_env(config))


def test_squash_is_for_the_neural_gaussian_and_takes_the_envs_box(tmp_path):
    pytest.importorskip("jax")
    path = tmp_path / "config.toml"
    path.write_text(
        'env = "Pendulum-v1"\n[policy]\nkind = "neural_gaussian"\nbackend = "jax"\nsquash = true\n'
    )
    config = load_config(path)
    policy = build_policy(config, make_config_env(config))
    actions = policy.sample_from_noise(np.zeros((5, 3)), 10 * np.ones((5, 1)))
    np.testing.assert_allclose(actions, 2.0, rtol=1e-6)  # far past the bound: squashed to it
    path.write_text('env = "CartPole-v1"\n[policy]\nkind = "neural_softmax"\nsquash = true\n')
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"`policy.squash` = true squashes a neural Gaussian"):
        build_policy(config, make_config_env(config))


def test_gsde_is_for_the_neural_gaussian_and_its_settings_are_checked(tmp_path):
    pytest.importorskip("jax")
    path = tmp_path / "config.toml"
    gaussian = 'env = "Pendulum-v1"\n[policy]\nkind = "neural_gaussian"\n'
    path.write_text(gaussian + 'backend = "jax"\nhidden = [8]\n[policy.gsde]\nsample_every = 2\n')
    config = load_config(path)
    policy = build_policy(config, make_config_env(config))
    assert policy.exploration_period == 2 and policy.parameters[-1].shape == (8, 1)
    if importlib.util.find_spec("torch") is not None:  # the PyTorch backend has it too
        path.write_text(gaussian + 'backend = "torch"\nhidden = [8]\n[policy.gsde]\n')
        config = load_config(path)
        policy = build_policy(config, make_config_env(config))
        assert policy.exploration_period == 4 and tuple(policy.eta.shape) == (8, 1)
    path.write_text('env = "Pendulum-v1"\n[policy]\nkind = "linear_gaussian"\n[policy.gsde]\n')
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"`policy.gsde` is state-dependent exploration"):
        build_policy(config, make_config_env(config))
    path.write_text(gaussian + "[policy.gsde]\nsample_every = -1\n")
    with pytest.raises(ConfigError, match=r"policy\.gsde\.sample_every"):
        load_config(path)
    path.write_text(gaussian + "[policy.gsde]\nsample_every = true\n")
    with pytest.raises(ConfigError, match=r"policy\.gsde\.sample_every"):
        load_config(path)  # a bool is not a step count
    path.write_text(gaussian + "[policy.gsde]\nlearn_features = 1\n")
    with pytest.raises(ConfigError, match=r"policy\.gsde\.learn_features"):
        load_config(path)
    path.write_text(gaussian + "[policy.gsde]\nsample_evry = 4\n")
    with pytest.raises(ConfigError, match=r"sample_evry"):
        load_config(path)


def test_log_std_is_free_by_default_bounded_on_request_and_only_for_the_neural_gaussian(
    tmp_path,
):
    pytest.importorskip("jax")
    from gradlogpi.policies.networks import BOUNDED_LOG_STD
    from gradlogpi.runs.train import resolved

    path = tmp_path / "config.toml"
    gaussian = 'env = "Pendulum-v1"\n[policy]\nkind = "neural_gaussian"\nbackend = "jax"\n'
    path.write_text(gaussian)
    config = load_config(path)
    assert build_policy(config, make_config_env(config)).log_std_bounds is None
    assert resolved(config).policy.log_std == "free"  # what a run directory records
    path.write_text(gaussian + 'log_std = "bounded"\n')
    config = load_config(path)
    assert build_policy(config, make_config_env(config)).log_std_bounds == BOUNDED_LOG_STD
    path.write_text(gaussian + 'log_std = "wide"\n')
    with pytest.raises(ConfigError, match=r"policy\.log_std"):
        load_config(path)
    path.write_text('env = "Pendulum-v1"\n[policy]\nkind = "linear_gaussian"\nlog_std = "free"\n')
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"`policy.log_std` chooses how a neural Gaussian"):
        build_policy(config, make_config_env(config))


def test_a_run_directory_from_before_log_std_loads_with_the_bounded_form(tmp_path):
    from gradlogpi.runs.config import TrainConfig, config_to_toml, load_run_config

    written = TrainConfig.model_validate(
        {"env": "Pendulum-v1", "policy": {"kind": "neural_gaussian", "backend": "jax"}}
    )
    (tmp_path / "config.toml").write_text(config_to_toml(written))  # no `log_std` key
    assert load_run_config(tmp_path).policy.log_std == "bounded"
    free = written.model_copy(
        update={"policy": written.policy.model_copy(update={"log_std": "free"})}
    )
    (tmp_path / "config.toml").write_text(config_to_toml(free))
    assert load_run_config(tmp_path).policy.log_std == "free"
    linear = TrainConfig.model_validate(
        {"env": "Pendulum-v1", "policy": {"kind": "linear_gaussian"}}
    )
    (tmp_path / "config.toml").write_text(config_to_toml(linear))
    assert load_run_config(tmp_path).policy.log_std is None
