import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from gradlogpi.algorithms import PPOConfig, ppo  # noqa: E402
from gradlogpi.algorithms.on_policy.loop import RunStart  # noqa: E402
from gradlogpi.check import compare_scores  # noqa: E402
from gradlogpi.errors import ShapeError  # noqa: E402
from gradlogpi.policies.jax_function import (  # noqa: E402
    JaxFunctionGaussianPolicy,
    JaxFunctionSoftmaxPolicy,
    JaxFunctionValue,
)
from gradlogpi.policies.jax_policies import (  # noqa: E402
    JaxGaussianPolicy,
    JaxSoftmaxPolicy,
    JaxValue,
)
from gradlogpi.policies.networks import GSDE, MLP, GaussianHead  # noqa: E402
from tests.policies.own_networks import (  # noqa: E402
    assert_logits_take_any_leading_axes,
    assert_ppo_trains_on_images_and_resumes_exactly,
    assert_same_as_the_built_in,
)


def mlp_apply(layers, x):
    """The built-in MLP (tanh), written by hand on a list of (weight, bias) layers."""
    *hidden, (weight, bias) = layers
    for w, b in hidden:
        x = jnp.tanh(x @ w + b)
    return x @ weight + bias


def as_layers(arrays):
    """The built-in network's (W0, b0, W1, b1, ...) as `mlp_apply`'s layers (the same
    flat order: a list of tuples flattens in order)."""
    return [(w, b) for w, b in zip(arrays[::2], arrays[1::2], strict=True)]


def convolution_apply(parameters, x):
    """A 2×2 convolution over [N, 1, 2, 2] observations, then a linear head."""
    features = jax.lax.conv_general_dilated(x, parameters["kernel"], (1, 1), "VALID")
    return jnp.tanh(features.reshape(x.shape[0], -1)) @ parameters["head"]


def convolution_parameters(outputs, seed):
    rng = np.random.default_rng(seed)
    return {"kernel": rng.normal(0, 0.5, (3, 1, 2, 2)), "head": rng.normal(0, 0.1, (3, outputs))}


def test_a_function_equal_to_the_built_in_mlp_gives_its_log_probs_scores_and_ppo_updates(rng):
    # float64 training: the same program up to rounding, so the same actions on any CPU
    built_in = JaxSoftmaxPolicy(4, 2, MLP((16,)), seed=3, lr=3e-3, dtype="float64")
    built_in_value = JaxValue(4, MLP((16,)), seed=4, lr=3e-3, dtype="float64")
    policy = JaxFunctionSoftmaxPolicy(
        mlp_apply, as_layers(built_in.parameters), 4, 2, lr=3e-3, dtype="float64"
    )
    value = JaxFunctionValue(
        mlp_apply, as_layers(built_in_value.parameters), (4,), lr=3e-3, dtype="float64"
    )
    np.testing.assert_array_equal(policy.get_flat(), built_in.get_flat())
    assert_same_as_the_built_in((policy, value), (built_in, built_in_value), rng, 1e-10)


def test_the_score_of_a_convolution_agrees_with_finite_differences(rng):
    policy = JaxFunctionSoftmaxPolicy(convolution_apply, convolution_parameters(3, 0), (1, 2, 2), 3)
    obs, a = rng.normal(size=(4, 1, 2, 2)), rng.integers(3, size=4)
    check = compare_scores(policy, obs, a)
    assert check.passed(rtol=1e-6, atol=1e-8), check
    assert set(policy.parameter_blocks()) == {"['head']", "['kernel']"}
    assert_logits_take_any_leading_axes(policy, rng)


def test_ppo_trains_functions_on_image_observations_and_resumes_exactly():
    def models():
        return (
            JaxFunctionSoftmaxPolicy(
                convolution_apply, convolution_parameters(2, 1), (1, 2, 2), 2, lr=1e-3
            ),
            JaxFunctionValue(convolution_apply, convolution_parameters(1, 2), (1, 2, 2), lr=1e-3),
        )

    assert_ppo_trains_on_images_and_resumes_exactly(models)


def test_runs_of_a_function_learned_together_end_as_each_alone():
    """`runs` learned together (one vmapped update for all) with a user's function: each
    run ends where it ends alone, float64 to rounding."""
    config = PPOConfig(n_updates=3, num_envs=2, steps_per_env=16, epochs=2, minibatches=2)

    def models(seed):
        policy = JaxSoftmaxPolicy(4, 2, MLP((8,)), seed=seed)
        value = JaxValue(4, MLP((8,)), seed=seed + 100)
        return (
            JaxFunctionSoftmaxPolicy(
                mlp_apply, as_layers(policy.parameters), 4, 2, lr=3e-3, dtype="float64"
            ),
            JaxFunctionValue(mlp_apply, as_layers(value.parameters), 4, lr=3e-3, dtype="float64"),
        )

    seeds = (11, 12)
    starts = [RunStart(seed, *models(seed)) for seed in seeds]
    first = starts[0]
    together = ppo("CartPole-v1", first.policy, config, value=first.value, seed=0, runs=starts)
    assert not np.allclose(together.parameters[0], together.parameters[1])
    for k, seed in enumerate(seeds):
        policy, value = models(seed)
        alone = ppo("CartPole-v1", policy, config, value=value, seed=seed)
        np.testing.assert_allclose(together.parameters[k], alone.parameters[0], atol=1e-12)
        width = together.lengths.shape[1]  # cut to the fewest episodes any run finished
        np.testing.assert_array_equal(together.lengths[k], alone.lengths[0, :width])


@pytest.mark.parametrize(
    "head", [GaussianHead(log_std0=-0.5), GaussianHead(squash_bounds=(-2.0, 2.0))]
)
def test_a_gaussian_on_a_function_equal_to_the_built_in_mlp_takes_its_ppo_steps(head, rng):
    built_in = JaxGaussianPolicy(3, 1, MLP((16,)), seed=3, lr=3e-3, head=head, dtype="float64")
    layers = as_layers(built_in.parameters[:-1])  # η, log σ's parameter, comes last
    policy = JaxFunctionGaussianPolicy(mlp_apply, layers, 3, 1, lr=3e-3, head=head, dtype="float64")
    np.testing.assert_array_equal(policy.get_flat(), built_in.get_flat())
    obs, a = rng.normal(size=(2, 5, 3)), rng.uniform(-1.5, 1.5, size=(2, 5, 1))
    np.testing.assert_allclose(policy.log_prob(obs, a), built_in.log_prob(obs, a), rtol=1e-12)
    np.testing.assert_allclose(policy.score(obs, a), built_in.score(obs, a), rtol=1e-10)
    config = PPOConfig(n_updates=2, num_envs=2, steps_per_env=32, epochs=2, minibatches=2)

    def value():
        return JaxValue(3, MLP((16,)), seed=4, lr=3e-3, dtype="float64")

    expected = ppo("Pendulum-v1", built_in, config, value=value(), seed=5)
    result = ppo("Pendulum-v1", policy, config, value=value(), seed=5)
    np.testing.assert_allclose(result.returns, expected.returns, rtol=1e-9)
    np.testing.assert_allclose(result.parameters, expected.parameters, rtol=1e-9, atol=1e-12)


def test_the_score_of_a_squashed_gaussian_function_agrees_with_finite_differences(rng):
    head = GaussianHead(squash_bounds=(-1.0, 1.0))
    parameters = convolution_parameters(2, 0)
    policy = JaxFunctionGaussianPolicy(convolution_apply, parameters, (1, 2, 2), 2, head=head)
    obs, a = rng.normal(size=(4, 1, 2, 2)), rng.uniform(-0.9, 0.9, size=(4, 2))
    check = compare_scores(policy, obs, a)
    assert check.passed(rtol=1e-6, atol=1e-8), check
    assert set(policy.parameter_blocks()) == {"['head']", "['kernel']", "eta"}
    # the entropy of a state-independent σ, one value per observation however shaped
    assert policy.entropy(rng.normal(size=(3, 1, 2, 2))).shape == (3,)
    gradient = policy.mean_entropy_gradient(obs)  # H = Σ log σ + const: only η moves it
    np.testing.assert_allclose(gradient[policy.parameter_blocks()["eta"]], [1.0, 1.0])
    np.testing.assert_array_equal(gradient[policy.parameter_blocks()["['kernel']"]], 0.0)
    with pytest.raises(ValueError, match=r"`head.gsde` needs the built-in MLP's last hidden"):
        JaxFunctionGaussianPolicy(
            convolution_apply, parameters, (1, 2, 2), 2, head=GaussianHead(gsde=GSDE())
        )


def test_a_function_that_does_not_fit_is_refused_by_name():
    def identity(parameters, x):
        return x

    with pytest.raises(TypeError, match=r"`apply` must be a function apply\(parameters, obs"):
        JaxFunctionSoftmaxPolicy("not a function", {"w": np.zeros(2)}, 4, 2)
    with pytest.raises(ShapeError, match=r"`apply` must map observations \[N, 4\] to \[N, 2\]"):
        JaxFunctionSoftmaxPolicy(identity, {"w": np.zeros(2)}, 4, 2)
    with pytest.raises(ValueError, match="`parameters` has no arrays to learn"):
        JaxFunctionSoftmaxPolicy(identity, {}, 2, 2)
    with pytest.raises(TypeError, match=r"`parameters` must hold float arrays only; got dtypes"):
        JaxFunctionValue(identity, {"w": np.zeros(2, dtype=np.int64)}, 1)

    def linear(parameters, x):
        return x @ parameters["w"]

    weights = {"w": np.zeros((4, 1))}
    with pytest.raises(
        ShapeError, match=r"to \[N, 1\]; given 2 observations it returned shape \(2,\)"
    ):
        JaxFunctionValue(lambda p, x: linear(p, x)[:, 0], weights, 4)
    with pytest.raises(TypeError, match=r"`apply` must compute in its inputs' dtype .* float32"):
        JaxFunctionValue(lambda p, x: linear(p, x).astype(jnp.float32), weights, 4)
    with pytest.raises(ValueError, match=r"`apply` failed on float64 observations \[2, 5\]"):
        JaxFunctionValue(linear, weights, 5)
    with pytest.raises(ValueError, match="must treat the observations of a batch one by one"):
        JaxFunctionValue(lambda p, x: linear(p, x - x.mean(axis=0)), {"w": np.ones((4, 1))}, 4)
