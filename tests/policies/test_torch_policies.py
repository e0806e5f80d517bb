import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gradlogpi.check import compare_scores  # noqa: E402
from gradlogpi.core import action_block_features, linear_softmax_score  # noqa: E402
from gradlogpi.policies.networks import GaussianHead  # noqa: E402
from gradlogpi.policies.torch_policies import NeuralGaussianPolicy, NeuralSoftmaxPolicy  # noqa: E402

pytestmark = pytest.mark.torch


def test_autograd_of_linear_softmax_equals_closed_form(rng):
    """The seed's cross-check: PyTorch's gradient of log π = φ(s,a) − E_π[φ(s,·)], float64."""
    x = rng.normal(size=(6, 3))
    phi = action_block_features(x, 4)  # [N, A, d]
    theta = rng.normal(size=phi.shape[-1])
    a = rng.integers(4, size=6)
    theta_t = torch.tensor(theta, requires_grad=True)
    log_probabilities = torch.log_softmax(torch.from_numpy(phi) @ theta_t, dim=-1)
    for i in range(6):
        (gradient,) = torch.autograd.grad(log_probabilities[i, a[i]], theta_t, retain_graph=True)
        np.testing.assert_allclose(
            gradient.numpy(), linear_softmax_score(theta, phi[i], a[i]), rtol=1e-10, atol=1e-14
        )


def test_seed_objective_gradient_is_sum_of_scores(rng):
    """∇ of J = Σ_t log π(A_t|S_t) G_t by autodiff equals Σ_t G_t ∇ log π(A_t|S_t)."""
    policy = NeuralSoftmaxPolicy(3, 2, (8,), seed=1)
    obs, a, g = rng.normal(size=(5, 3)), rng.integers(2, size=5), rng.normal(size=5)
    autodiff = policy.weighted_score_sum(obs, a, g)
    per_step = policy.score(obs, a)
    np.testing.assert_allclose(
        autodiff, (g[:, None] * per_step).sum(axis=0), rtol=1e-10, atol=1e-13
    )


@pytest.mark.parametrize("kind", ["softmax", "gaussian"])
def test_gradient_check_of_neural_policies(rng, kind):
    if kind == "softmax":
        policy = NeuralSoftmaxPolicy(4, 3, (16, 8), activation="tanh")
        obs, a = rng.normal(size=(3, 4)), np.array([0, 2, 1])
    else:
        policy = NeuralGaussianPolicy(3, 2, (8,), activation="tanh")
        obs, a = rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    check = compare_scores(policy, obs, a)
    assert check.passed(rtol=1e-6, atol=1e-8), check


def test_numpy_forward_matches_torch(rng):
    policy = NeuralSoftmaxPolicy(4, 2, (32,), activation="relu", seed=3)
    obs = rng.normal(size=(7, 4))
    with torch.no_grad():
        expected = policy.network(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(policy.logits(obs), expected, rtol=1e-12)
    policy.set_flat(policy.get_flat() + 0.1)
    with torch.no_grad():
        expected = policy.network(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(policy.logits(obs), expected, rtol=1e-12)


def test_same_seed_same_network():
    first, second = (
        NeuralSoftmaxPolicy(4, 2, (16,), seed=5),
        NeuralSoftmaxPolicy(4, 2, (16,), seed=5),
    )
    np.testing.assert_array_equal(first.get_flat(), second.get_flat())


@pytest.mark.parametrize("n_actions", [2, 3])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_neural_softmax_actor_takes_the_batched_samples_action(rng, n_actions, activation):
    policy = NeuralSoftmaxPolicy(4, n_actions, (16,), activation, seed=3)
    obs = rng.normal(size=(300, 4)).astype(np.float32)
    noise = policy.transform_noise(rng.random((300, n_actions)))
    actor = policy.actor()
    prepared = actor.prepare(noise)
    actions = np.array([actor.act(o, prepared[i]) for i, o in enumerate(obs)])
    np.testing.assert_array_equal(actions, policy.sample_from_noise(obs, noise))
    assert len(np.unique(actions)) == n_actions


def test_neural_gaussian_actor_matches_sample_from_noise(rng):
    policy = NeuralGaussianPolicy(3, 2, (8,), seed=1, head=GaussianHead(-1.0))
    obs = rng.normal(size=(40, 3))
    noise = policy.transform_noise(rng.random((40, 4)))
    actor = policy.actor()
    prepared = actor.prepare(noise)
    actions = np.array([actor.act(o, prepared[i]) for i, o in enumerate(obs)])
    np.testing.assert_allclose(actions, policy.sample_from_noise(obs, noise), rtol=1e-12)


def test_an_update_that_leaves_a_parameter_not_finite_is_undone():
    """`update_kept_finite` (clones per tensor, no flat copies) keeps a finite update and
    puts θ and the NumPy mirror back after a non-finite one."""
    from gradlogpi.algorithms.common import update_kept_finite

    policy = NeuralSoftmaxPolicy(4, 2, (8,), seed=0)
    obs = np.ones((3, 4))
    start, logits = policy.get_flat(), policy.logits(obs)

    def poison():
        with torch.no_grad():
            policy.parameters()[1][3] = float("nan")  # one bias of the hidden layer
        policy.sync()

    assert not update_kept_finite(policy, poison)
    np.testing.assert_array_equal(policy.get_flat(), start)
    np.testing.assert_array_equal(policy.logits(obs), logits)
    assert update_kept_finite(policy, lambda: policy.set_flat(start + 0.1))
    np.testing.assert_allclose(policy.get_flat(), start + 0.1)


def test_orthogonal_initialisation_has_the_reference_gains():
    """Hidden weights orthogonal with gain √2, the policy head 0.01, the critic head 1, zero
    biases (SB3's and CleanRL's PPO); 'uniform' keeps PyTorch's default."""
    torch = pytest.importorskip("torch")
    from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy, NeuralValue

    policy = NeuralSoftmaxPolicy(4, 2, (64, 64), seed=0)
    critic = NeuralValue(4, (64, 64), seed=0)
    for network, head in ((policy.network, 0.01), (critic.network, 1.0)):
        linears = [m for m in network if isinstance(m, torch.nn.Linear)]
        for layer, gain in zip(linears, (2**0.5, 2**0.5, head), strict=True):
            weight = layer.weight.detach().numpy()
            rows, columns = weight.shape
            product = weight @ weight.T if rows <= columns else weight.T @ weight
            np.testing.assert_allclose(product, gain**2 * np.eye(min(rows, columns)), atol=1e-12)
            assert not layer.bias.detach().numpy().any()
    probabilities = policy.probabilities(np.random.default_rng(0).normal(size=(50, 4)))
    assert np.abs(probabilities - 0.5).max() < 0.05  # the small head starts π near uniform
    uniform = NeuralSoftmaxPolicy(4, 2, (64, 64), seed=0, initialization="uniform")
    assert uniform.network[0].bias.detach().numpy().any()
    with pytest.raises(ValueError, match="`initialization` must be one of"):
        NeuralSoftmaxPolicy(4, 2, initialization="xavier")
