"""Reliability guarantees, one test (or a few) each; the closing note of issue 8 maps them."""

import re
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradlogpi.algorithms import ReinforceConfig, reinforce
from gradlogpi.core import linear_softmax_score, log_softmax, normalized, softmax, softmax_entropy
from gradlogpi.errors import NonFiniteError, ShapeError
from gradlogpi.features import RawState, TableFeatures
from gradlogpi.policies import LinearSoftmaxPolicy, MatrixSoftmaxPolicy
from gradlogpi.policies.linear_gaussian import LinearGaussianPolicy


# 1. numerical stability ------------------------------------------------------------------
@given(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.integers(0, 1))
def test_scores_finite_for_huge_preferences(first, second, action):
    theta = np.array([first, second])
    phi = np.eye(2)
    assert np.all(np.isfinite(linear_softmax_score(theta, phi, action)))
    assert np.all(np.isfinite(log_softmax(theta))) and np.isfinite(softmax_entropy(theta))
    assert abs(softmax(theta).sum() - 1) < 1e-12


def test_gaussian_log_std_bounded_and_one_step_batch_normalises_to_zero():
    policy = LinearGaussianPolicy(RawState(1), 1, theta0=[0.0, 0.0, 1e300])
    assert policy.log_std(np.zeros(1))[0] == pytest.approx(2.0)
    assert np.all(np.isfinite(policy.score(np.zeros(1), np.array([1e6]))))
    np.testing.assert_array_equal(normalized(np.array([5.0])), [0.0])


# 2. non-finite data is an error, never learned from ----------------------------------------
class NaNRewardEnv(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        reward = float("nan") if self.t == 3 else 1.0
        return np.zeros(2, dtype=np.float32), reward, False, self.t >= 5, {}


def test_nan_reward_raises_naming_env_run_episode_step_and_field():
    gym.register(
        "test/NaNReward-v0",
        entry_point=NaNRewardEnv,
        max_episode_steps=10,
        disable_env_checker=True,
    )
    policy = MatrixSoftmaxPolicy(RawState(2), 2)
    with pytest.raises(
        NonFiniteError,
        match=re.escape(
            "non-finite reward from environment test/NaNReward-v0: run 0, episode 0, step 3"
        ),
    ):
        reinforce("test/NaNReward-v0", policy, ReinforceConfig(n_episodes=2))


def test_diverging_update_keeps_last_finite_theta():
    # α = 1e308 overflows θ on the first update; the run stops learning with its finite θ
    policy = LinearSoftmaxPolicy(
        TableFeatures(np.array([[0.0, 1.0], [1.0, 0.0]])), np.array([0.0, 0.0])
    )
    config = ReinforceConfig(n_episodes=3, alpha_theta=1e308, max_episode_steps=20)
    result = reinforce("gradlogpi/ShortCorridor-v0", policy, config, seed=0, runs=2)
    assert np.all(result.diverged_at == 0)
    np.testing.assert_array_equal(result.policy.theta, np.zeros((2, 2)))
    assert result.summary()["diverged_runs"] == 2


# 4. input validation, mismatches generated ---------------------------------------------------
@given(st.integers(1, 5), st.integers(1, 5))
def test_wrong_number_of_actions_is_named(env_actions, policy_actions):
    if env_actions == policy_actions or env_actions != 2:
        return
    policy = LinearSoftmaxPolicy(TableFeatures(np.zeros((policy_actions, 2))))
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"`policy` must have n_actions=2 (the action space of gradlogpi/ShortCorridor-v0); got {policy_actions}"
        ),
    ):
        reinforce("gradlogpi/ShortCorridor-v0", policy, ReinforceConfig(n_episodes=1))


@given(st.integers(1, 4), st.integers(1, 4))
def test_observation_shape_mismatch_is_named(feature_dims, obs_dims):
    if feature_dims == obs_dims:
        return
    policy = MatrixSoftmaxPolicy(RawState(feature_dims), 2)
    with pytest.raises(ShapeError, match=re.escape(f"`obs` must have shape [..., {feature_dims}]")):
        policy.probabilities(np.zeros(obs_dims))


@given(st.sampled_from([0.0, -1.0, float("nan"), float("inf")]))
def test_bad_step_sizes_are_named(alpha):
    with pytest.raises(ValueError, match="`alpha_theta` must be a finite number"):
        ReinforceConfig(alpha_theta=alpha)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda g: not 0 <= g <= 1))
def test_gamma_outside_unit_interval_is_named(gamma):
    with pytest.raises(ValueError, match=re.escape("`gamma` must be in [0.0, 1.0]")):
        ReinforceConfig(gamma=gamma)


def test_step_cap_must_be_positive():
    with pytest.raises(
        ValueError, match=re.escape("`max_episode_steps` must be an int >= 1; got 0")
    ):
        ReinforceConfig(max_episode_steps=0)


def test_env_without_cap_needs_one():
    env = gym.make("gradlogpi/ShortCorridor-v0", max_episode_steps=None).unwrapped
    env.spec = None
    policy = LinearSoftmaxPolicy(TableFeatures(np.array([[0.0, 1.0], [1.0, 0.0]])))
    with pytest.raises(
        ValueError, match=re.escape("`max_episode_steps` must be given for ShortCorridorEnv")
    ):
        reinforce(env, policy, ReinforceConfig(n_episodes=1))


# 6. determinism across processes ------------------------------------------------------------
SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from gradlogpi.experiments.sutton_barto import corridor_policy
    from gradlogpi.algorithms import ReinforceConfig, reinforce
    result = reinforce("gradlogpi/ShortCorridor-v0", corridor_policy(), ReinforceConfig(n_episodes=25, alpha_theta=2**-10), seed=11, runs=4)
    print(repr(result.policy.theta.tolist()), repr(result.returns.tolist()))
    """
)


def test_same_seed_same_numbers_in_two_processes():
    outputs = [
        subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert outputs[0] == outputs[1] and outputs[0].strip()


# 7. a writer killed mid-save leaves the previous checkpoint loadable -------------------------
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from gradlogpi.runs import checkpoints
    from gradlogpi.runs.checkpoints import save_checkpoint
    path = sys.argv[1]
    save_checkpoint(path, {"theta": np.arange(5.0)}, {"generation": 1})
    real_dump = checkpoints.json.dump
    def dump_then_die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)   # die after the arrays, before the metadata lands
    checkpoints.json.dump = dump_then_die
    save_checkpoint(path, {"theta": np.arange(5.0) + 100}, {"generation": 2})
    """
)


def test_sigkill_mid_save_never_leaves_a_silent_mix(tmp_path):
    from gradlogpi.errors import CheckpointError
    from gradlogpi.runs.checkpoints import load_checkpoint

    completed = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path / "ck")], capture_output=True, text=True
    )
    assert completed.returncode == -9
    # no partial file under a final name: only .tmp leftovers may remain
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".tmp")) == [
        "ck.json",
        "ck.npz",
    ]
    # the arrays were replaced but the old metadata's checksum guards against using them
    with pytest.raises(CheckpointError, match="do not match the sha256"):
        load_checkpoint(tmp_path / "ck")
