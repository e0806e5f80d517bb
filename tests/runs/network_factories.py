"""Networks a config names by 'module:function' (`policy.network`, `value.network`): each
takes (observation_shape, outputs, seed) and builds the same architecture every time."""

import numpy as np


def torch_network(observation_shape, outputs, seed):
    """A residual-free MLP with layer norm, which the built-in MLP has not."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    network = torch.nn.Sequential(
        torch.nn.Linear(int(np.prod(observation_shape)), 16),
        torch.nn.LayerNorm(16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, outputs),
    )
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    return network


def jax_network(observation_shape, outputs, seed):
    """The same in plain jax.numpy: (apply, parameters)."""
    import jax.numpy as jnp

    def apply(parameters, x):
        hidden = x @ parameters["w0"] + parameters["b0"]
        mean = hidden.mean(axis=-1, keepdims=True)
        spread = jnp.sqrt(((hidden - mean) ** 2).mean(axis=-1, keepdims=True) + 1e-5)
        return jnp.tanh((hidden - mean) / spread) @ parameters["w1"] + parameters["b1"]

    rng = np.random.default_rng(seed)
    inputs = int(np.prod(observation_shape))
    parameters = {
        "w0": 0.3 * rng.standard_normal((inputs, 16)),
        "b0": np.zeros(16),
        "w1": 0.3 * rng.standard_normal((16, outputs)),
        "b1": np.zeros(outputs),
    }
    return apply, parameters


def failing(observation_shape, outputs, seed):
    raise RuntimeError("no network today")


def not_a_pair(observation_shape, outputs, seed):
    return "a module"
