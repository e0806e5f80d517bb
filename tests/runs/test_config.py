import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlogpi.errors import ConfigError
from gradlogpi.runs.config import config_to_toml, load_config


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))
    assert len(configs) >= 4
    for path in configs:
        load_config(path)


def test_unknown_key_names_file_key_and_value(tmp_path):
    path = write(tmp_path, 'env = "CartPole-v1"\nspeed = 3\n')
    with pytest.raises(
        ConfigError, match=re.escape(f"{path}: `speed` = 3: Extra inputs are not permitted")
    ):
        load_config(path)


def test_wrong_type_and_range(tmp_path):
    path = write(tmp_path, 'runs = "many"\n')
    with pytest.raises(ConfigError, match=re.escape(f"{path}: `runs` = 'many'")):
        load_config(path)
    path = write(tmp_path, "[features]\ndegree = -1\n")
    with pytest.raises(
        ConfigError,
        match=re.escape(
            f"{path}: `features.degree` = -1: Input should be greater than or equal to 0"
        ),
    ):
        load_config(path)


def test_hyperparameters_checked_against_the_algorithm(tmp_path):
    path = write(tmp_path, 'algorithm = "reinforce"\n[hyperparameters]\nalpha = 0.1\n')
    with pytest.raises(
        ConfigError,
        match=re.escape("unknown key `hyperparameters.alpha` = 0.1 for algorithm 'reinforce'"),
    ):
        load_config(path)
    path = write(tmp_path, 'algorithm = "reinforce"\n[hyperparameters]\ngamma = 2.0\n')
    with pytest.raises(ConfigError, match=re.escape("`gamma` must be in [0.0, 1.0]; got 2.0")):
        load_config(path)


def test_overrides_win_over_the_file(tmp_path):
    path = write(tmp_path, 'env = "CartPole-v1"\nseed = 1\n')
    config = load_config(path, {"seed": 9, "policy.kind": "linear_softmax"})
    assert config.seed == 9 and config.policy.kind == "linear_softmax"
    assert load_config(None, {"env": "Pendulum-v1"}).env == "Pendulum-v1"


def test_an_error_names_where_the_value_came_from(tmp_path):
    origins = {"algorithm": "--algorithm"}
    with pytest.raises(ConfigError, match=re.escape("--algorithm: `algorithm` = 'ppoo': ")):
        load_config(None, {"algorithm": "ppoo"}, origins=origins)
    with pytest.raises(ConfigError, match=re.escape("--set algorithm: `algorithm` = 'ppoo': ")):
        load_config(None, {"algorithm": "ppoo"})
    path = write(tmp_path, 'algorithm = "ppoo"\n')
    with pytest.raises(ConfigError, match=re.escape(f"{path}: `algorithm` = 'ppoo': ")):
        load_config(path, {"seed": 1}, origins={"seed": "--seed"})


def test_round_trip_through_toml(tmp_path):
    config = load_config(None, {"algorithm": "reinforce", "hyperparameters.n_episodes": 3})
    again = load_config(write(tmp_path, config_to_toml(config)))
    assert again == config


VALID = 'env = "CartPole-v1"\nalgorithm = "batch_pg"\nseed = 3\n[policy]\nkind = "matrix_softmax"\n[hyperparameters]\nn_updates = 5\nalpha_theta = 0.1\n'


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.text(min_size=0, max_size=4))
def test_mutated_configs_load_or_raise_config_error(position, insertion):
    import tempfile
    from pathlib import Path

    text = VALID[:position] + insertion + VALID[position + 1 :]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "c.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as error:
            assert str(path) in str(error)


def test_joint_value_fitting_needs_a_neural_policy_and_critic(tmp_path):
    text = 'algorithm = "ppo"\n[policy]\nkind = "{kind}"\n[value]\nkind = "{critic}"\n'
    text += '[hyperparameters]\nvalue_fitting = "joint"\n'
    for kind, critic in (("matrix_softmax", "linear"), ("neural_softmax", "linear")):
        path = write(tmp_path, text.format(kind=kind, critic=critic))
        with pytest.raises(ConfigError, match=r"value_fitting.* = 'joint'.*got policy.kind"):
            load_config(path)
    load_config(write(tmp_path, text.format(kind="neural_softmax", critic="neural")))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("policy.dtype", "float16", "policy.dtype"),
        ("policy.backend", "tensorflow", "policy.backend"),
        ("value.weight_decay", "-1", "value.weight_decay"),
    ],
)
def test_backend_settings_are_checked_by_name(tmp_path, key, value, message):
    table, name = key.split(".")
    literal = value if value.lstrip("-").isdigit() else f'"{value}"'
    path = write(tmp_path, f'algorithm = "ppo"\n[{table}]\n{name} = {literal}\n')
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)
