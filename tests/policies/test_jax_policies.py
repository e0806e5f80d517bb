"""The JAX backend: exact scores in float64, and the same steps as the PyTorch backend.

The second point is what "no algorithm written twice" rests on: PPO's and A2C's losses
are one `Objective` each, evaluated eagerly by PyTorch and inside one compiled call by
JAX; given the same θ, samples and minibatches, both backends must end at the same θ.
"""

import numpy as np
import pytest

pytest.importorskip("jax")
torch = pytest.importorskip("torch")

from gradlogpi.algorithms.on_policy.a2c import AdvantageWeighted  # noqa: E402
from gradlogpi.algorithms.on_policy.ppo import ClippedSurrogate, KLAbove  # noqa: E402
from gradlogpi.check import compare_scores  # noqa: E402
from gradlogpi.policies import NetworkPolicy, Policy, ValueFunction  # noqa: E402
from gradlogpi.policies.contract import Ascent, minibatch_plan  # noqa: E402
from gradlogpi.policies.jax_policies import (  # noqa: E402
    JaxGaussianPolicy,
    JaxSoftmaxPolicy,
    JaxValue,
    bucket,
)
from gradlogpi.policies.networks import (  # noqa: E402
    MLP,
    AdamSettings,
    GaussianHead,
    Regression,
    adam_settings,
)
from gradlogpi.policies.torch_policies import (  # noqa: E402
    NeuralGaussianPolicy,
    NeuralSoftmaxPolicy,
    NeuralValue,
)

pytestmark = pytest.mark.torch


def torch_order(jax_network) -> np.ndarray:
    """The JAX network's θ in the PyTorch backend's flat order (weights [out, in])."""
    pieces = []
    for i, p in enumerate(jax_network.parameters):
        is_weight = i % 2 == 0 and i < 2 * len(jax_network._layers)
        pieces.append((p.T if is_weight else p).ravel())
    return np.concatenate(pieces)


@pytest.mark.parametrize("kind", ["softmax", "gaussian"])
def test_scores_pass_the_gradient_check_in_float64(rng, kind):
    if kind == "softmax":
        policy = JaxSoftmaxPolicy(4, 3, MLP((16, 8)), seed=2)
        obs, a = rng.normal(size=(3, 4)), np.array([0, 2, 1])
    else:
        policy = JaxGaussianPolicy(3, 2, MLP((8,)), seed=2, head=GaussianHead(-0.5))
        obs, a = rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    assert isinstance(policy, NetworkPolicy) and isinstance(policy, Policy)
    check = compare_scores(policy, obs, a)
    assert check.passed(rtol=1e-6, atol=1e-8), check
    weights = rng.normal(size=3)
    np.testing.assert_allclose(
        policy.weighted_score_sum(obs, a, weights),
        (weights[:, None] * policy.score(obs, a)).sum(axis=0),
        rtol=1e-10,
        atol=1e-13,
    )


def test_the_critics_gradient_is_its_values_derivative(rng):
    critic = JaxValue(3, MLP((8, 8)), seed=1)
    assert isinstance(critic, ValueFunction)
    obs = rng.normal(size=(4, 3))
    w, eps = critic.get_flat(), 1e-6
    gradient = critic.gradient(obs)
    for i in rng.choice(w.size, 12, replace=False):
        step = np.zeros_like(w)
        step[i] = eps
        critic.set_flat(w + step)
        up = critic.value(obs)
        critic.set_flat(w - step)
        down = critic.value(obs)
        np.testing.assert_allclose(gradient[:, i], (up - down) / (2 * eps), atol=1e-8)


def twin_policies(kind):
    """A PyTorch policy and a float64 JAX policy with the same θ."""
    if kind == "softmax":
        jax_policy = JaxSoftmaxPolicy(4, 2, MLP((16, 16)), seed=5, lr=0.01, dtype="float64")
        torch_policy = NeuralSoftmaxPolicy(4, 2, (16, 16), seed=0, lr=0.01)
    else:
        jax_policy = JaxGaussianPolicy(4, 2, MLP((16,)), seed=5, lr=0.01, dtype="float64")
        torch_policy = NeuralGaussianPolicy(4, 2, (16,), seed=0, lr=0.01)
    torch_policy.set_flat(torch_order(jax_policy))
    return jax_policy, torch_policy


@pytest.mark.parametrize("kind", ["softmax", "gaussian"])
@pytest.mark.parametrize("objective", ["ppo", "a2c"])
def test_both_backends_take_the_same_steps_on_one_objective(rng, kind, objective):
    jax_policy, torch_policy = twin_policies(kind)
    n = 37  # minibatches of 10, 9, 9, 9: the JAX side pads them
    obs = rng.normal(size=(n, 4))
    actions = rng.integers(2, size=n) if kind == "softmax" else rng.normal(size=(n, 2))
    samples = {"observations": obs, "actions": actions, "advantages": rng.normal(size=n)}
    if objective == "ppo":
        samples["old_log_probs"] = torch_policy.log_prob(obs, actions) + 0.05 * rng.normal(size=n)
        loss = ClippedSurrogate(normalize_advantages=True, with_entropy=True)
        settings = {"clip_range": 0.2, "entropy_coefficient": 0.01, "target_kl": 0.02}
        ascent = Ascent(0.7, max_grad_norm=0.5, stop=KLAbove())
        plan = minibatch_plan(n, 6, 4, np.random.default_rng(3))
    else:
        loss = AdvantageWeighted(with_entropy=True)
        settings = {"entropy_coefficient": 0.01}
        ascent = Ascent(1.0, max_grad_norm=0.5)
        plan = minibatch_plan(n, 1, 1, np.random.default_rng(3))
    before = torch_policy.get_flat()
    epochs_jax = jax_policy.maximize_minibatches(loss, samples, plan, settings, ascent)
    epochs_torch = torch_policy.maximize_minibatches(loss, samples, plan, settings, ascent)
    assert epochs_jax == epochs_torch
    assert np.abs(torch_policy.get_flat() - before).max() > 1e-4  # the update did something
    np.testing.assert_allclose(torch_order(jax_policy), torch_policy.get_flat(), atol=1e-9)


def test_ppo_stops_its_epochs_at_the_same_point_on_both_backends(rng):
    """A tight target KL ends the epochs early, the same epoch on both backends."""
    jax_policy, torch_policy = twin_policies("softmax")
    n = 64
    obs, actions = rng.normal(size=(n, 4)), rng.integers(2, size=n)
    samples = {
        "observations": obs,
        "actions": actions,
        "advantages": rng.normal(size=n),
        "old_log_probs": torch_policy.log_prob(obs, actions),
    }
    settings = {"clip_range": 0.2, "entropy_coefficient": 0.0, "target_kl": 1e-4}
    plan = minibatch_plan(n, 10, 2, np.random.default_rng(0))
    ascent = Ascent(1.0, None, KLAbove())
    loss = ClippedSurrogate(True, False)
    epochs_jax = jax_policy.maximize_minibatches(loss, samples, plan, settings, ascent)
    epochs_torch = torch_policy.maximize_minibatches(loss, samples, plan, settings, ascent)
    assert 1 <= epochs_jax < 10
    assert epochs_jax == epochs_torch
    np.testing.assert_allclose(torch_order(jax_policy), torch_policy.get_flat(), atol=1e-9)


@pytest.mark.parametrize("clip_range", [None, 0.1])
def test_both_backends_fit_the_critic_alike(rng, clip_range):
    jax_critic = JaxValue(3, MLP((8, 8)), seed=4, lr=0.01, regression=Regression(3, 2, clip_range, 1e-2), dtype="float64")  # fmt: skip
    torch_critic = NeuralValue(3, (8, 8), seed=4, lr=0.01,
                               regression=Regression(3, 2, clip_range, 1e-2))  # fmt: skip
    torch_critic.set_flat(torch_order(jax_critic))
    torch_critic._shuffle.bit_generator.state = jax_critic._shuffle.bit_generator.state
    obs, targets = rng.normal(size=(21, 3)), rng.normal(size=21)
    before = jax_critic.get_flat()
    jax_critic.fit(obs, targets, ridge=1e-3)
    torch_critic.fit(obs, targets, ridge=1e-3)
    assert not np.allclose(jax_critic.get_flat(), before)
    np.testing.assert_allclose(torch_order(jax_critic), torch_critic.get_flat(), atol=1e-9)


@pytest.mark.parametrize("gsde", [False, True])
def test_every_matrix_product_of_the_networks_asks_for_full_precision(gsde):
    """On a GPU, JAX's default precision multiplies float32 matrices in TF32, which took
    the test below outside its tolerance on an H200; each product must ask for HIGHEST."""
    import jax
    import jax.numpy as jnp

    from gradlogpi.policies.jax_policies import Network, gaussian_moments

    network = Network("gaussian", "tanh", gsde=gsde)
    parameters = (jnp.ones((3, 8)), jnp.ones(8), jnp.ones((8, 2)), jnp.ones(2))
    parameters += (jnp.zeros((8, 2)) if gsde else jnp.zeros(2),)
    program = jax.make_jaxpr(lambda p, x: gaussian_moments(network, p, x, training=True))
    equations = program(parameters, jnp.ones((5, 3))).jaxpr.eqns
    products = [e for e in equations if e.primitive.name == "dot_general"]
    assert len(products) == (3 if gsde else 2)
    for product in products:
        assert product.params["precision"] == (jax.lax.Precision.HIGHEST,) * 2


def test_float32_training_stays_close_to_float64(rng):
    """Training in float32 (the default) follows the float64 steps to float32 precision."""
    single = JaxSoftmaxPolicy(4, 2, MLP((16,)), seed=1, lr=1e-3)
    double = JaxSoftmaxPolicy(4, 2, MLP((16,)), seed=1, lr=1e-3, dtype="float64")
    obs, actions = rng.normal(size=(32, 4)), rng.integers(2, size=32)
    samples = {"observations": obs, "actions": actions, "advantages": rng.normal(size=32)}
    plan = minibatch_plan(32, 4, 2, np.random.default_rng(0))
    for policy in (single, double):
        policy.maximize_minibatches(
            AdvantageWeighted(False), samples, plan, {"entropy_coefficient": 0.0}
        )
    assert single.get_flat().dtype == np.float64
    np.testing.assert_allclose(single.get_flat(), double.get_flat(), atol=1e-5)
    assert not np.array_equal(single.get_flat(), double.get_flat())


def test_an_update_that_leaves_theta_not_finite_is_undone(rng):
    policy = JaxSoftmaxPolicy(4, 2, MLP((8,)), seed=0)
    theta = policy.get_flat()
    optimizer = policy.optimizer_state()[0]

    def poison():
        policy.optimizer_step(np.full(policy.n_parameters, np.nan))

    assert not policy.update_kept_finite(poison)
    np.testing.assert_array_equal(policy.get_flat(), theta)
    for name, array in policy.optimizer_state()[0].items():
        np.testing.assert_array_equal(array, optimizer[name], err_msg=name)


def test_optimizer_state_round_trips(rng):
    policy = JaxGaussianPolicy(3, 1, MLP((8,)), seed=0)
    for _ in range(3):
        policy.optimizer_step(rng.normal(size=policy.n_parameters))
    arrays, groups = policy.optimizer_state()
    copy = JaxGaussianPolicy(3, 1, MLP((8,)), seed=0)
    copy.set_flat(policy.get_flat())
    copy.load_optimizer_state(arrays, groups)
    direction = rng.normal(size=policy.n_parameters)
    policy.optimizer_step(direction)
    copy.optimizer_step(direction)
    np.testing.assert_array_equal(policy.get_flat(), copy.get_flat())


@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize("epsilon", [1e-8, 1e-5, 1e-3])
def test_adams_first_step_is_lr_times_g_over_abs_g_plus_epsilon(rng, backend, epsilon):
    """Adam's first step, bias-corrected, is lr·g/(|g| + ε) per parameter; gradients of
    1e-4 make ε visible, so this fails on either backend if ε does not reach its Adam."""
    settings = AdamSettings(0.01, epsilon)
    if backend == "jax":
        policy = JaxSoftmaxPolicy(3, 2, MLP((4,)), seed=0, lr=settings, dtype="float64")
    else:
        policy = NeuralSoftmaxPolicy(3, 2, (4,), seed=0, lr=settings)
    theta = policy.get_flat()
    gradient = 1e-4 * rng.normal(size=policy.n_parameters)
    policy.optimizer_step(gradient)
    expected = 0.01 * gradient / (np.abs(gradient) + epsilon)
    np.testing.assert_allclose(policy.get_flat() - theta, expected, rtol=1e-7, atol=1e-15)


def test_adam_settings_name_what_is_not_positive():
    assert adam_settings(0.5) == AdamSettings(0.5, 1e-5)
    with pytest.raises(ValueError, match=r"`lr.epsilon` must be a finite number > 0; got 0"):
        JaxSoftmaxPolicy(3, 2, lr=AdamSettings(0.01, 0))
    with pytest.raises(ValueError, match=r"`lr` must be a finite number > 0; got -1"):
        NeuralValue(3, lr=-1)


def test_a_checkpoint_keeps_the_adam_epsilon_it_was_saved_with():
    """Resuming continues with the saved ε, and a checkpoint from before ε was saved (JAX
    trained with 1e-8 then) resumes with 1e-8, whatever the config now says."""
    saved = JaxSoftmaxPolicy(3, 2, MLP((4,)), seed=0, lr=AdamSettings(0.01, 1e-3))
    arrays, groups = saved.optimizer_state()
    resumed = JaxSoftmaxPolicy(3, 2, MLP((4,)), seed=0, lr=0.01)
    resumed.load_optimizer_state(arrays, groups)
    assert resumed.adam_epsilon == 1e-3
    resumed.load_optimizer_state(arrays, [{"lr": 0.01, "dtype": "float32"}])
    assert resumed.adam_epsilon == 1e-8
    torch_saved = NeuralSoftmaxPolicy(3, 2, (4,), seed=0, lr=AdamSettings(0.01, 1e-3))
    torch_saved.optimizer_step(np.ones(torch_saved.n_parameters))
    torch_resumed = NeuralSoftmaxPolicy(3, 2, (4,), seed=0, lr=0.01)
    torch_resumed.load_optimizer_state(*torch_saved.optimizer_state())
    assert torch_resumed.adam_epsilon == torch_resumed.optimizer.param_groups[0]["eps"] == 1e-3


@pytest.mark.parametrize(("n", "expected"), [(1, 1), (2, 2), (3, 4), (256, 256), (257, 512)])
def test_sizes_are_bucketed_to_powers_of_two(n, expected):
    assert bucket(n) == expected


@pytest.mark.parametrize(
    ("algorithm", "clip_values"), [("ppo", False), ("ppo", True), ("a2c", False)]
)
def test_both_backends_train_policy_and_critic_jointly_alike(rng, algorithm, clip_values):
    """SB3's PPO and A2C: one loss over both networks, one joint gradient-norm clip."""
    jax_policy, torch_policy = twin_policies("softmax")
    jax_critic = JaxValue(4, MLP((8,)), seed=4, lr=0.02, dtype="float64")
    torch_critic = NeuralValue(4, (8,), seed=4, lr=0.02)
    torch_critic.set_flat(torch_order(jax_critic))
    n = 24
    obs, actions = rng.normal(size=(n, 4)), rng.integers(2, size=n)
    samples = {
        "observations": obs,
        "actions": actions,
        "advantages": rng.normal(size=n),
        "old_log_probs": torch_policy.log_prob(obs, actions),
        "returns": rng.normal(size=n),
        "old_values": torch_critic.value(obs),
    }
    settings = {
        "clip_range": 0.2,
        "entropy_coefficient": 0.0,
        "target_kl": 0.0,
        "value_coefficient": 0.5,
        "value_clip_range": 0.05,
    }
    loss = (
        ClippedSurrogate(True, False, with_value=True, clip_values=clip_values)
        if algorithm == "ppo"
        else AdvantageWeighted(False, with_value=True)
    )
    plan = minibatch_plan(n, 3, 2, np.random.default_rng(1))
    ascent = Ascent(0.8, max_grad_norm=0.3)
    critic_before = jax_critic.get_flat()
    jax_policy.maximize_minibatches(loss, samples, plan, settings, ascent, jax_critic)
    torch_policy.maximize_minibatches(loss, samples, plan, settings, ascent, torch_critic)
    assert np.abs(jax_critic.get_flat() - critic_before).max() > 1e-3
    np.testing.assert_allclose(torch_order(jax_policy), torch_policy.get_flat(), atol=1e-9)
    np.testing.assert_allclose(torch_order(jax_critic), torch_critic.get_flat(), atol=1e-9)


def test_an_objective_that_reads_values_without_a_critic_is_refused(rng):
    policy = JaxSoftmaxPolicy(4, 2, MLP((8,)), seed=0)
    obs = rng.normal(size=(8, 4))
    samples = {"observations": obs, "actions": np.zeros(8, int), "advantages": np.ones(8)}
    samples["old_log_probs"] = policy.log_prob(obs, samples["actions"])
    samples["returns"] = np.ones(8)
    with pytest.raises(ValueError, match="pass `critic`"):
        policy.maximize_minibatches(
            ClippedSurrogate(False, False, with_value=True),
            samples,
            minibatch_plan(8, 1, 1, np.random.default_rng(0)),
            {"clip_range": 0.2, "value_coefficient": 0.5},
        )


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_squashed_gaussian_stays_in_its_box_integrates_to_one_and_passes_the_check(rng, backend):
    cls = JaxGaussianPolicy if backend == "jax" else NeuralGaussianPolicy
    shape = MLP((8,)) if backend == "jax" else (8,)
    policy = cls(3, 2, shape, seed=1, head=GaussianHead(0.5, ([-2.0, -1.0], [2.0, 3.0])))
    obs = rng.normal(size=(64, 3))
    actions = policy.sample(obs, rng)
    assert (actions > [-2.0, -1.0]).all() and (actions < [2.0, 3.0]).all()
    assert compare_scores(policy, obs[:4], actions[:4]).passed(rtol=1e-6, atol=1e-8)
    one_dimensional = cls(3, 1, shape, seed=2, head=GaussianHead(0.3, ([-2.0], [3.0])))
    grid = np.linspace(-2.0, 3.0, 200_001)[1:-1]
    density = np.exp(one_dimensional.log_prob(np.tile(obs[:1], (grid.size, 1)), grid[:, None]))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-4)
    greedy = policy.deterministic_action(obs[:3])
    np.testing.assert_allclose(greedy, [0.0, 1.0] + [2.0, 2.0] * np.tanh(policy.mean(obs[:3])))


def test_both_backends_take_the_same_steps_on_a_squashed_gaussian(rng):
    box = ([-1.0, -2.0], [1.0, 2.0])
    jax_policy = JaxGaussianPolicy(
        4, 2, MLP((16,)), seed=5, lr=0.01, dtype="float64", head=GaussianHead(squash_bounds=box)
    )
    torch_policy = NeuralGaussianPolicy(
        4, 2, (16,), seed=0, lr=0.01, head=GaussianHead(squash_bounds=box)
    )
    torch_policy.set_flat(torch_order(jax_policy))
    obs = rng.normal(size=(32, 4))
    actions = jax_policy.sample(obs, rng)
    np.testing.assert_allclose(
        jax_policy.log_prob(obs, actions), torch_policy.log_prob(obs, actions), rtol=1e-12
    )
    samples = {"observations": obs, "actions": actions, "advantages": rng.normal(size=32)}
    samples["old_log_probs"] = torch_policy.log_prob(obs, actions)
    settings = {"clip_range": 0.2, "entropy_coefficient": 0.0, "target_kl": 0.0}
    plan = minibatch_plan(32, 3, 2, np.random.default_rng(2))
    for policy in (jax_policy, torch_policy):
        policy.maximize_minibatches(ClippedSurrogate(True, False), samples, plan, settings)
    np.testing.assert_allclose(torch_order(jax_policy), torch_policy.get_flat(), atol=1e-9)


def test_squash_bounds_must_be_a_finite_box():
    with pytest.raises(ValueError, match="finite action bounds"):
        JaxGaussianPolicy(3, 1, head=GaussianHead(squash_bounds=([-np.inf], [1.0])))
    with pytest.raises(ValueError, match="low < high"):
        NeuralGaussianPolicy(3, 1, head=GaussianHead(squash_bounds=([1.0], [1.0])))
