"""How a neural Gaussian holds log σ: a free parameter (SB3's, the default) or smoothly
bounded (gradlogpi's form before 2026-12-03).

The form is not cosmetic. Under the bound, log σ = low + (high − low)·sigmoid(η), so an
Adam step of size lr on η moves log σ by lr·(high − low)·s(1 − s): 1.43 lr at log σ = 0
and up to 1.75 lr further down. On InvertedDoublePendulum σ then shrank about 1.5× faster
than SB3's at the same settings, and training collapsed late (docs/ppo-vs-sb3.md).
"""

import numpy as np
import pytest

from gradlogpi.check import compare_scores
from gradlogpi.policies.networks import BOUNDED_LOG_STD, MLP, GaussianHead

jax = pytest.importorskip("jax")
from gradlogpi.policies.jax_policies import JaxGaussianPolicy  # noqa: E402


def gaussian(backend, head, lr=0.01, seed=3):
    """A 3 → 2 Gaussian MLP on `backend` (JAX in float64, to compare with PyTorch's)."""
    if backend == "jax":
        return JaxGaussianPolicy(3, 2, MLP((8,)), seed=seed, lr=lr, head=head, dtype="float64")
    pytest.importorskip("torch")
    from gradlogpi.policies.torch_policies import NeuralGaussianPolicy

    return NeuralGaussianPolicy(3, 2, (8,), seed=seed, lr=lr, head=head)


def eta_block(policy) -> np.ndarray:
    """Where η (log σ's parameter) sits in the flat θ."""
    return policy.parameter_blocks()["eta"]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_default_log_std_is_eta_itself(rng, backend):
    policy = gaussian(backend, GaussianHead(log_std0=-0.7))
    assert policy.log_std_bounds is None
    np.testing.assert_allclose(policy.get_flat()[eta_block(policy)], -0.7)
    np.testing.assert_allclose(policy.log_std(rng.normal(size=(4, 3))), -0.7)


@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize(
    "bounds, slope",
    # d log σ / dη at log σ = 0: 1 free; (high − low)·s(1 − s) with s = 5/7 bounded
    [(None, 1.0), (BOUNDED_LOG_STD, 7 * (5 / 7) * (2 / 7))],
)
def test_one_adam_step_on_eta_moves_log_std_by_lr_times_its_slope(backend, bounds, slope):
    lr = 1e-3
    policy = gaussian(backend, GaussianHead(log_std_bounds=bounds), lr=lr)
    before = policy.log_std(np.zeros((1, 3)))[0]
    ascent = np.zeros(policy.n_parameters)
    ascent[eta_block(policy)] = 1.0  # up log σ only: Adam's first step is lr·g/(|g| + ε)
    policy.optimizer_step(ascent)
    moved = policy.log_std(np.zeros((1, 3)))[0] - before
    np.testing.assert_allclose(moved, lr * slope, rtol=2e-3)


@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize("bounds", [None, BOUNDED_LOG_STD])
def test_scores_pass_the_gradient_check_with_either_form(rng, backend, bounds):
    policy = gaussian(backend, GaussianHead(log_std0=-0.4, log_std_bounds=bounds))
    obs, actions = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    check = compare_scores(policy, obs, actions)
    assert check.passed(rtol=1e-6, atol=1e-8), check


@pytest.mark.parametrize("bounds", [None, BOUNDED_LOG_STD])
def test_both_backends_take_the_same_steps_with_either_form(rng, bounds):
    pytest.importorskip("torch")
    from gradlogpi.algorithms.on_policy.ppo import ClippedSurrogate
    from gradlogpi.policies.contract import Ascent, minibatch_plan
    from tests.policies.test_jax_policies import torch_order

    head = GaussianHead(log_std0=-0.3, log_std_bounds=bounds)
    jax_policy, torch_policy = gaussian("jax", head), gaussian("torch", head, seed=0)
    torch_policy.set_flat(torch_order(jax_policy))
    n = 24
    obs, actions = rng.normal(size=(n, 3)), rng.normal(size=(n, 2))
    samples = {
        "observations": obs,
        "actions": actions,
        "advantages": rng.normal(size=n),
        "old_log_probs": torch_policy.log_prob(obs, actions) + 0.05 * rng.normal(size=n),
    }
    loss = ClippedSurrogate(normalize_advantages=True, with_entropy=True)
    settings = {"clip_range": 0.2, "entropy_coefficient": 0.01, "target_kl": 0.0}
    plan = minibatch_plan(n, 5, 2, np.random.default_rng(4))
    before = torch_policy.get_flat()[eta_block(torch_policy)]
    for policy in (jax_policy, torch_policy):
        policy.maximize_minibatches(loss, samples, plan, settings, Ascent(1.0, 0.5))
    assert np.abs(torch_policy.get_flat()[eta_block(torch_policy)] - before).min() > 1e-3
    np.testing.assert_allclose(torch_order(jax_policy), torch_policy.get_flat(), atol=1e-9)


@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize(
    "head, message",
    [
        (GaussianHead(log_std_bounds=(2.0, -5.0)), "low < high"),
        (GaussianHead(log_std_bounds=(-np.inf, 2.0)), "finite"),
        (GaussianHead(log_std_bounds="wide"), "None or"),
        (GaussianHead(log_std0=3.0, log_std_bounds=BOUNDED_LOG_STD), "`log_std0` must lie"),
        (GaussianHead(log_std0=1e308), "`log_std0` must be within"),
        (GaussianHead(log_std0=-800.0), "`log_std0` must be within"),
    ],
)
def test_bad_bounds_are_refused_by_name(backend, head, message):
    with pytest.raises(ValueError, match=message):
        gaussian(backend, head)
