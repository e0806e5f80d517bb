"""Your own network named in a config (`policy.network`, `value.network`).

The name is 'module:function'. The function is imported (the module must be importable:
installed, or on PYTHONPATH) and called with (observation_shape, outputs, seed); it
returns a `torch.nn.Module` for `policy.backend` = 'torch' or `(apply, parameters)` for
'jax', which the backend's adapter wraps (`policies.torch_module`, `policies.jax_function`).
Evaluation and resume call it again and load the saved θ into what it returns, so it must
build the same network every time; the seed is for its initial weights. With JAX, runs
learned together (`runs = R`) share one compiled program and so the first `apply` the
function returned: `apply` must not depend on the seed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from gradlogpi.errors import ConfigError
from gradlogpi.policies.networks import AdamSettings, GaussianHead, Regression


def made_network(
    key: str, name: str, backend: str, observation_shape: tuple[int, ...], outputs: int, seed: int
) -> Any:
    """What the function `name` (the config's `key`) returns for these arguments, checked
    to be of the backend's form."""
    module_name, attribute = name.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # not found, or the module's own code failed on import
        raise ConfigError(f"`{key}` = {name!r}: {type(error).__name__}: {error}") from None
    factory: Callable[..., Any] | None = getattr(module, attribute, None)
    if not callable(factory):
        raise ConfigError(f"`{key}` = {name!r}: {module_name} has no function {attribute!r}")
    try:
        made = factory(observation_shape, outputs, seed)
    except Exception as error:  # the user's own code, on our arguments
        raise ConfigError(
            f"`{key}` = {name!r} failed, called with (observation_shape={observation_shape}, "
            f"outputs={outputs}, seed={seed}): {type(error).__name__}: {error}"
        ) from error
    if backend == "jax":
        if not (isinstance(made, tuple) and len(made) == 2):
            raise ConfigError(
                f"`{key}` = {name!r} must return (apply, parameters) for policy.backend = "
                f"'jax'; got {type(made).__name__}"
            )
        # runs learned together share one compiled program, so one `apply`: the first one
        # the function returned for these shapes (it must not depend on the seed)
        apply = FIRST_APPLY.setdefault((name, observation_shape, outputs), made[0])
        return apply, made[1]
    return made


FIRST_APPLY: dict[tuple[str, tuple[int, ...], int], Callable[..., Any]] = {}
"""The `apply` each named JAX network function first returned in this process, by shapes."""


def observation_shape_of_env(env: gym.Env) -> tuple[int, ...]:
    """One observation's shape, as the network gets it (images keep their axes)."""
    return tuple(env.observation_space.shape or ())


def softmax_policy(config: Any, env: gym.Env, dtype: str) -> Any:
    """`policy.network` as a softmax policy over the env's actions."""
    spec, shape = config.policy, observation_shape_of_env(env)
    n_actions = int(env.action_space.n)  # type: ignore[attr-defined]
    lr = AdamSettings(spec.lr, spec.adam_epsilon)
    made = made_network("policy.network", spec.network, spec.backend, shape, n_actions, config.seed)
    if spec.backend == "jax":
        from gradlogpi.policies.jax_function import JaxFunctionSoftmaxPolicy

        apply, parameters = made
        return JaxFunctionSoftmaxPolicy(apply, parameters, shape, n_actions, lr=lr, dtype=dtype)
    from gradlogpi.policies.torch_module import TorchModuleSoftmaxPolicy

    return TorchModuleSoftmaxPolicy(made, shape, n_actions, lr=lr)


def gaussian_policy(config: Any, env: gym.Env, head: GaussianHead, dtype: str) -> Any:
    """`policy.network` as the mean of a Gaussian policy over the env's Box actions."""
    spec, shape = config.policy, observation_shape_of_env(env)
    action_dim = env.action_space.shape[0]  # type: ignore[index]
    lr = AdamSettings(spec.lr, spec.adam_epsilon)
    made = made_network(
        "policy.network", spec.network, spec.backend, shape, action_dim, config.seed
    )
    if spec.backend == "jax":
        from gradlogpi.policies.jax_function import JaxFunctionGaussianPolicy

        apply, parameters = made
        return JaxFunctionGaussianPolicy(
            apply, parameters, shape, action_dim, lr=lr, head=head, dtype=dtype
        )
    from gradlogpi.policies.torch_module import TorchModuleGaussianPolicy

    return TorchModuleGaussianPolicy(made, shape, action_dim, lr=lr, head=head)


def value_function(config: Any, env: gym.Env, regression: Regression, seed: int, dtype: str) -> Any:
    """`value.network` as the critic, trained by the policy's backend."""
    spec, backend, shape = config.value, config.policy.backend, observation_shape_of_env(env)
    lr = AdamSettings(spec.lr, spec.adam_epsilon)
    made = made_network("value.network", spec.network, backend, shape, 1, seed)
    try:
        if backend == "jax":
            from gradlogpi.policies.jax_function import JaxFunctionValue

            apply, parameters = made
            return JaxFunctionValue(
                apply, parameters, shape, seed=seed, lr=lr, regression=regression, dtype=dtype
            )
        from gradlogpi.policies.torch_module import TorchModuleValue

        return TorchModuleValue(made, shape, seed=seed, lr=lr, regression=regression)
    except (ValueError, TypeError) as error:  # the adapter's check of what it returned
        raise ConfigError(f"`value.network` = {spec.network!r}: {error}") from None
