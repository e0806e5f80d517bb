"""TRPO: conjugate gradient, Fisher products, the KL-bounded step, and learning."""

import numpy as np
import pytest

from gradlogpi.algorithms.estimators import conjugate_gradient, fisher_vector_product
from gradlogpi.algorithms.on_policy.advantages import Rollout
from gradlogpi.algorithms.on_policy.gradients import action_distribution, mean_kl
from gradlogpi.algorithms.on_policy.trpo import (
    TRPOConfig,
    fisher_operator,
    trpo,
    trust_region_step,
)
from gradlogpi.features import RawState
from gradlogpi.policies import LinearGaussianPolicy, LinearValue, MatrixSoftmaxPolicy


def test_conjugate_gradient_solves_a_positive_definite_system_in_p_steps(rng):
    factor = rng.normal(size=(8, 8))
    matrix = factor @ factor.T + 0.1 * np.eye(8)
    b = rng.normal(size=8)
    solution = conjugate_gradient(lambda v: matrix @ v, b, iterations=8)
    np.testing.assert_allclose(solution, np.linalg.solve(matrix, b), rtol=1e-6)
    one_step = conjugate_gradient(lambda v: matrix @ v, b, iterations=1)
    assert np.linalg.norm(matrix @ one_step - b) > 1e-3  # it did stop after one


def test_fisher_vector_product_is_the_formed_matrix_times_the_vector(rng):
    scores, vector = rng.normal(size=(50, 6)), rng.normal(size=6)
    fisher = scores.T @ scores / 50
    np.testing.assert_allclose(
        fisher_vector_product(scores, vector, 0.1), (fisher + 0.1 * np.eye(6)) @ vector
    )


def rollout_for(policy, rng, n=256):
    observations = rng.normal(size=(n, 3))
    actions = policy.sample(observations, rng)
    advantages = rng.normal(size=n) + (np.asarray(actions, dtype=float).reshape(n, -1)[:, 0] > 0)
    return Rollout(
        observations,
        actions,
        policy.log_prob(observations, actions),
        advantages,
        advantages,
    )


def policies(rng):
    softmax = MatrixSoftmaxPolicy(RawState(3), 3).init(rng, scale=0.3)
    gaussian = LinearGaussianPolicy(RawState(3), 2)
    gaussian.set_flat(0.3 * rng.normal(size=gaussian.n_parameters))
    found = [softmax, gaussian]
    try:
        from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy

        found.append(NeuralSoftmaxPolicy(3, 3, (8,), seed=0))
    except ImportError:
        pass
    return found


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("max_kl", [0.001, 0.01, 0.1])
def test_the_step_keeps_the_exact_kl_within_the_bound_and_improves_the_surrogate(
    rng, index, max_kl
):
    candidates = policies(rng)
    if index >= len(candidates):
        pytest.skip("PyTorch is not installed")
    policy = candidates[index]
    data = rollout_for(policy, rng)
    theta_old = policy.get_flat()
    old_distribution = action_distribution(policy, data.observations)
    step = trust_region_step(policy, data, TRPOConfig(max_kl=max_kl), max_kl)
    assert step.accepted
    kl = mean_kl(policy, data.observations, old_distribution)
    assert kl == pytest.approx(step.kl) and 0 < kl <= max_kl
    assert step.improvement > 0
    # the quadratic model is good for small steps: the full step's KL is close to δ
    if max_kl <= 0.01 and step.step_fraction == 1.0:
        assert kl > 0.5 * max_kl
    assert not np.array_equal(policy.get_flat(), theta_old)


def test_the_step_is_along_the_natural_gradient(rng):
    policy = MatrixSoftmaxPolicy(RawState(3), 2).init(rng, scale=0.3)
    data = rollout_for(policy, rng)
    theta_old = policy.get_flat()
    scores = policy.score(data.observations, data.actions)  # at θ_old
    config = TRPOConfig(max_kl=1e-4, damping=0.1, cg_iterations=50, fisher="sampled")
    trust_region_step(policy, data, config, 1e-4)
    advantages = (data.advantages - data.advantages.mean()) / data.advantages.std()
    fisher = scores.T @ scores / scores.shape[0] + 0.1 * np.eye(scores.shape[1])
    natural = np.linalg.solve(fisher, scores.T @ advantages / scores.shape[0])
    step = policy.get_flat() - theta_old
    cosine = step @ natural / np.linalg.norm(step) / np.linalg.norm(natural)
    assert cosine > 1 - 1e-10


def test_no_step_when_nothing_improves(rng):
    policy = MatrixSoftmaxPolicy(RawState(3), 2).init(rng, scale=0.3)
    data = rollout_for(policy, rng)
    data.advantages[:] = 0.0  # a flat surrogate: no direction improves it
    theta_old = policy.get_flat()
    step = trust_region_step(policy, data, TRPOConfig(normalize_advantages=False), 0.01)
    assert not step.accepted
    np.testing.assert_array_equal(policy.get_flat(), theta_old)


def test_trpo_learns_cartpole_and_refuses_what_it_cannot_do():
    config = TRPOConfig(n_updates=30, num_envs=8, steps_per_env=128, max_kl=0.02)
    policy = MatrixSoftmaxPolicy(RawState(4), 2)
    result = trpo("CartPole-v1", policy, config, value=LinearValue(RawState(4)), seed=1)
    first, last = result.returns[0, :20].mean(), result.returns[0, -10:].mean()
    assert last > 2 * first  # about 2.5× for seed 1 with either Fisher product
    with pytest.raises(ValueError, match="`value` must be a critic for trpo"):
        trpo("CartPole-v1", policy, config)
    with pytest.raises(ValueError, match=r"`backtrack` must be in \(0, 1\)"):
        TRPOConfig(backtrack=1.0)
    with pytest.raises(ValueError, match="max_kl"):
        TRPOConfig(max_kl=0.0)


def test_trpo_refuses_joint_critic_fitting_by_name():
    import pytest

    from gradlogpi.algorithms.on_policy.trpo import TRPOConfig

    with pytest.raises(ValueError, match="`value_fitting` must be 'auto' or 'separate' for TRPO"):
        TRPOConfig(value_fitting="joint")


def exact_fisher_policies(rng):
    """Policies with exact Fisher products: a matrix softmax (from every action's
    score), and JAX networks (the mean KL's Hessian by jvp), if JAX is installed."""
    found = [("matrix softmax", MatrixSoftmaxPolicy(RawState(3), 3).init(rng, scale=0.5))]
    try:
        from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy

        found.append(("PyTorch softmax", NeuralSoftmaxPolicy(3, 3, (5,), seed=7)))
    except ImportError:
        pass
    try:
        from gradlogpi.policies.jax_policies import JaxGaussianPolicy, JaxSoftmaxPolicy
        from gradlogpi.policies.networks import GSDE, MLP, GaussianHead
    except ImportError:
        return found
    network = MLP(hidden=(5,))
    found.append(("JAX softmax", JaxSoftmaxPolicy(3, 3, network, seed=1)))
    found.append(("JAX Gaussian", JaxGaussianPolicy(3, 2, network, seed=2)))
    squashed = GaussianHead(log_std0=-0.3, squash_bounds=(-np.ones(2), 2 * np.ones(2)))
    found.append(("JAX squashed", JaxGaussianPolicy(3, 2, network, seed=3, head=squashed)))
    state_dependent = GaussianHead(log_std0=-0.5, gsde=GSDE())
    found.append(("JAX gSDE", JaxGaussianPolicy(3, 2, network, seed=4, head=state_dependent)))
    return found


@pytest.mark.parametrize(
    "which",
    [
        "matrix softmax",
        "PyTorch softmax",
        "JAX softmax",
        "JAX Gaussian",
        "JAX squashed",
        "JAX gSDE",
    ],
)
def test_exact_fisher_products_are_the_mean_kls_curvature(which, rng):
    """vᵀ F v = d²/dε² mean KL(π_θ ‖ π_θ+εv) at 0, by central differences of the exact
    KL (the library's NumPy KL, not the autodiff that made F v)."""
    found = dict(exact_fisher_policies(rng))
    if which not in found:
        pytest.skip("its backend is not installed")
    policy = found[which]
    observations = rng.normal(size=(64, 3))
    config = TRPOConfig(fisher="exact", damping=0.0)
    theta = policy.get_flat()
    old = action_distribution(policy, observations)
    scores = policy.score(observations, policy.sample(observations, rng))
    product = fisher_operator(policy, observations, scores, config)
    epsilon = 1e-3
    for _ in range(3):
        vector = rng.normal(size=theta.size)
        curvature = 0.0
        for sign in (1.0, -1.0):
            policy.set_flat(theta + sign * epsilon * vector)
            curvature += mean_kl(policy, observations, old) / epsilon**2
        policy.set_flat(theta)
        assert vector @ product(vector) == pytest.approx(curvature, rel=1e-4)


def test_the_exact_fisher_is_what_sampled_fishers_average_to(rng):
    """The sampled estimate mean ψψᵀ over actions drawn from π converges to the exact F."""
    policy = MatrixSoftmaxPolicy(RawState(3), 3).init(rng, scale=0.5)
    observations = np.repeat(rng.normal(size=(8, 3)), 4000, axis=0)
    vector = rng.normal(size=policy.n_parameters)
    scores = policy.score(observations, policy.sample(observations, rng))
    exact = fisher_operator(policy, observations, scores, TRPOConfig(fisher="exact"))(vector)
    sampled = fisher_operator(policy, observations, scores, TRPOConfig(fisher="sampled"))(vector)
    np.testing.assert_allclose(sampled, exact, rtol=0.05, atol=0.02 * np.abs(exact).max())
    assert not np.allclose(sampled, exact, rtol=1e-6)  # two estimators, not one


def test_exact_fisher_products_of_a_jax_softmax_agree_with_every_actions_scores(rng):
    pytest.importorskip("jax")
    from gradlogpi.algorithms.estimators import expected_fisher_vector_product
    from gradlogpi.policies.jax_policies import JaxSoftmaxPolicy
    from gradlogpi.policies.networks import MLP

    policy = JaxSoftmaxPolicy(3, 3, MLP(hidden=(6,)), seed=4)
    observations = rng.normal(size=(37, 3))  # not a power of two: padded rows weigh 0
    vector = rng.normal(size=policy.n_parameters)
    every_action = np.broadcast_to(np.arange(3), (37, 3))
    all_scores = policy.score(np.repeat(observations[:, None], 3, axis=1), every_action)
    expected = expected_fisher_vector_product(
        all_scores, policy.probabilities(observations), vector, 0.0
    )
    np.testing.assert_allclose(
        policy.fisher_vector_product(observations, vector), expected, rtol=1e-9
    )


def test_the_exact_step_is_along_the_exact_natural_gradient(rng):
    policy = MatrixSoftmaxPolicy(RawState(3), 2).init(rng, scale=0.3)
    data = rollout_for(policy, rng)
    theta_old = policy.get_flat()
    scores = policy.score(data.observations, data.actions)
    probabilities = policy.probabilities(data.observations)
    every = np.stack(
        [policy.score(data.observations, np.full(len(data.observations), a)) for a in (0, 1)],
        axis=1,
    )  # [M, A, P]
    fisher = np.einsum("ma,map,maq->pq", probabilities, every, every) / len(data.observations)
    trust_region_step(policy, data, TRPOConfig(max_kl=1e-4, cg_iterations=50), 1e-4)
    advantages = (data.advantages - data.advantages.mean()) / data.advantages.std()
    natural = np.linalg.solve(
        fisher + 0.1 * np.eye(fisher.shape[0]), scores.T @ advantages / len(advantages)
    )
    step = policy.get_flat() - theta_old
    assert step @ natural / np.linalg.norm(step) / np.linalg.norm(natural) > 1 - 1e-10


def test_exact_fisher_is_refused_by_name_where_it_is_not_available(rng):
    gaussian = LinearGaussianPolicy(RawState(3), 2)
    observations = rng.normal(size=(4, 3))
    scores = gaussian.score(observations, gaussian.sample(observations, rng))
    with pytest.raises(ValueError, match="`fisher` = 'exact' needs a softmax policy"):
        fisher_operator(gaussian, observations, scores, TRPOConfig(fisher="exact"))
    auto = fisher_operator(gaussian, observations, scores, TRPOConfig(fisher="auto", damping=0))
    vector = rng.normal(size=gaussian.n_parameters)
    np.testing.assert_allclose(auto(vector), fisher_vector_product(scores, vector, 0.0))
    with pytest.raises(ValueError, match="`fisher` must be one of"):
        TRPOConfig(fisher="natural")
