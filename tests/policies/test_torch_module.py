import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gradlogpi.algorithms import PPOConfig, ppo  # noqa: E402
from gradlogpi.check import compare_scores  # noqa: E402
from gradlogpi.errors import ShapeError  # noqa: E402
from gradlogpi.policies.networks import GSDE, GaussianHead  # noqa: E402
from gradlogpi.policies.torch_module import (  # noqa: E402
    TorchModuleGaussianPolicy,
    TorchModuleSoftmaxPolicy,
    TorchModuleValue,
)
from gradlogpi.policies.torch_policies import (  # noqa: E402
    NeuralGaussianPolicy,
    NeuralSoftmaxPolicy,
    NeuralValue,
)
from tests.policies.own_networks import (  # noqa: E402
    assert_logits_take_any_leading_axes,
    assert_ppo_trains_on_images_and_resumes_exactly,
    assert_same_as_the_built_in,
)

pytestmark = pytest.mark.torch


def image_module(outputs: int, seed: int) -> torch.nn.Module:
    """A small convolution over [N, 1, 2, 2] observations (CartPole's state as a 2×2 image)."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, kernel_size=2),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.LayerNorm(3),
        torch.nn.Linear(3, outputs),
    )


def test_a_module_equal_to_the_built_in_mlp_gives_its_log_probs_scores_and_ppo_updates(rng):
    built_in = NeuralSoftmaxPolicy(4, 2, (16,), seed=3, lr=3e-3)
    built_in_value = NeuralValue(4, (16,), seed=4, lr=3e-3)
    wrapped = TorchModuleSoftmaxPolicy(copy.deepcopy(built_in.network), 4, 2, lr=3e-3)
    wrapped_value = TorchModuleValue(copy.deepcopy(built_in_value.network), (4,), lr=3e-3)
    assert_same_as_the_built_in((wrapped, wrapped_value), (built_in, built_in_value), rng, 1e-12)


def test_the_score_of_a_convolutional_module_agrees_with_finite_differences(rng):
    policy = TorchModuleSoftmaxPolicy(image_module(3, seed=0), (1, 2, 2), 3)
    obs, a = rng.normal(size=(4, 1, 2, 2)), rng.integers(3, size=4)
    check = compare_scores(policy, obs, a)
    assert check.passed(rtol=1e-6, atol=1e-8), check
    assert_logits_take_any_leading_axes(policy, rng)


def test_ppo_trains_module_policies_on_image_observations_and_resumes_exactly():
    def models():
        policy = TorchModuleSoftmaxPolicy(image_module(2, seed=1), (1, 2, 2), 2, lr=1e-3)
        return policy, TorchModuleValue(image_module(1, seed=2), (1, 2, 2), lr=1e-3)

    assert_ppo_trains_on_images_and_resumes_exactly(models)


@pytest.mark.parametrize(
    "head", [GaussianHead(log_std0=-0.5), GaussianHead(squash_bounds=(-2.0, 2.0))]
)
def test_a_gaussian_on_a_module_equal_to_the_built_in_mlp_takes_its_ppo_steps(head, rng):
    built_in = NeuralGaussianPolicy(3, 1, (16,), seed=3, lr=3e-3, head=head)
    value = NeuralValue(3, (16,), seed=4, lr=3e-3)
    wrapped = TorchModuleGaussianPolicy(copy.deepcopy(built_in.network), 3, 1, lr=3e-3, head=head)
    np.testing.assert_array_equal(wrapped.get_flat(), built_in.get_flat())
    obs, a = rng.normal(size=(2, 5, 3)), rng.uniform(-1.5, 1.5, size=(2, 5, 1))
    np.testing.assert_allclose(wrapped.log_prob(obs, a), built_in.log_prob(obs, a), rtol=1e-12)
    np.testing.assert_allclose(wrapped.score(obs, a), built_in.score(obs, a), rtol=1e-10)
    config = PPOConfig(n_updates=2, num_envs=2, steps_per_env=32, epochs=2, minibatches=2)
    expected = ppo("Pendulum-v1", built_in, config, value=copy.deepcopy(value), seed=5)
    result = ppo("Pendulum-v1", wrapped, config, value=copy.deepcopy(value), seed=5)
    np.testing.assert_allclose(result.returns, expected.returns, rtol=1e-9)
    np.testing.assert_allclose(result.parameters, expected.parameters, rtol=1e-9, atol=1e-12)


def test_the_score_of_a_squashed_gaussian_module_agrees_with_finite_differences(rng):
    head = GaussianHead(squash_bounds=(-1.0, 1.0))
    policy = TorchModuleGaussianPolicy(image_module(2, seed=0), (1, 2, 2), 2, head=head)
    obs, a = rng.normal(size=(4, 1, 2, 2)), rng.uniform(-0.9, 0.9, size=(4, 2))
    check = compare_scores(policy, obs, a)
    assert check.passed(rtol=1e-6, atol=1e-8), check
    assert "eta" in policy.parameter_blocks()
    with pytest.raises(ValueError, match=r"`head.gsde` needs the built-in MLP's last hidden"):
        TorchModuleGaussianPolicy(
            image_module(2, seed=0), (1, 2, 2), 2, head=GaussianHead(gsde=GSDE())
        )


def test_a_module_that_does_not_fit_is_refused_by_name():
    with pytest.raises(TypeError, match=r"`module` must be a torch.nn.Module; got function"):
        TorchModuleSoftmaxPolicy(lambda x: x, 4, 2)
    with pytest.raises(
        ShapeError,
        match=r"`module` must map observations \[N, 4\] to a tensor \[N, 2\]; given 2 observations it returned \(2, 3\)",
    ):
        TorchModuleSoftmaxPolicy(torch.nn.Linear(4, 3), 4, 2)
    with pytest.raises(
        ShapeError, match=r"to a tensor \[N, 1\]; given 2 observations it returned \(2, 2\)"
    ):
        TorchModuleValue(torch.nn.Linear(4, 2), 4)
    with pytest.raises(ValueError, match="`observation_shape` must be one or more positive"):
        TorchModuleSoftmaxPolicy(torch.nn.Linear(4, 2), (0,), 2)
    with pytest.raises(TypeError, match="`observation_shape` must be an int or a sequence"):
        TorchModuleSoftmaxPolicy(torch.nn.Linear(4, 2), "4", 2)
    with pytest.raises(ValueError, match="`module` has no parameters"):
        TorchModuleSoftmaxPolicy(torch.nn.Flatten(), (2,), 2)
    with pytest.raises(TypeError, match="`observation_shape` must be an int or a sequence"):
        TorchModuleSoftmaxPolicy(torch.nn.Linear(4, 2), (4.5,), 2)
    with pytest.raises(ValueError, match=r"`module` failed on float64 observations \[2, 4\]"):
        TorchModuleSoftmaxPolicy(torch.nn.Linear(5, 2), 4, 2)


class Centred(torch.nn.Module):
    """Subtracts the batch's mean: each output depends on the other observations."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.linear(x - x.mean(dim=0))


@pytest.mark.parametrize(
    "layer",
    [torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(4)],
    ids=["dropout", "batch norm"],
)
def test_a_module_in_training_mode_is_refused_and_accepted_in_eval_mode(layer):
    torch.manual_seed(0)  # dropout's masks: three calls of the probe all differ
    module = torch.nn.Sequential(layer, torch.nn.Linear(4, 2))
    buffers = [b.clone() for b in module.buffers()]
    with pytest.raises(ValueError, match=r"batch norm or dropout in training mode\?\); call"):
        TorchModuleSoftmaxPolicy(module, 4, 2)
    # the probe left no trace in the running statistics
    for buffer, saved in zip(module.buffers(), buffers, strict=True):
        assert torch.equal(buffer, saved.to(buffer.dtype))
    policy = TorchModuleSoftmaxPolicy(module.eval(), 4, 2)
    assert policy.score(np.zeros((3, 4)), [0, 1, 0]).shape == (3, policy.n_parameters)


class Pair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.linear(x), x


def test_a_module_with_the_wrong_output_type_dtype_or_device_is_refused():
    with pytest.raises(
        ShapeError, match=r"to a tensor \[N, 2\]; given 2 observations it returned tuple"
    ):
        TorchModuleSoftmaxPolicy(Pair(), 4, 2)
    single = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Flatten(0))
    with pytest.raises(ShapeError, match=r"returned \(4,\)"):
        TorchModuleSoftmaxPolicy(single, 4, 2)

    class Single(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.linear(x).float()

    with pytest.raises(TypeError, match=r"must compute in float64 on the CPU .* torch.float32"):
        TorchModuleSoftmaxPolicy(Single(), 4, 2)


def test_a_module_that_mixes_the_observations_of_a_batch_is_refused():
    with pytest.raises(ValueError, match="must treat the observations of a batch one by one"):
        TorchModuleSoftmaxPolicy(Centred(), 4, 2)
