"""Neural policies in PyTorch (optional extra `gradlogpi[torch]`).

Acting never touches PyTorch: after every update the network's weights are copied into
NumPy arrays, and the forward pass for one state is two or three small NumPy matrix
products. PyTorch is used where it earns its cost: autodiff of the seed's objective
J = Σ_t log π(A_t|S_t) G_t over a whole episode or batch, and its optimizers.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradlogpi.core._checks import as_float_array, check_actions, check_positive_int
from gradlogpi.core.scores import SQUASH_EDGE
from gradlogpi.errors import MissingExtraError, ShapeError
from gradlogpi.policies.contract import (
    DEFAULT_ASCENT,
    Ascent,
    Minibatches,
    Objective,
    RunAxisParameters,
    ValueFunction,
)
from gradlogpi.policies.networks import (
    ACTIVATIONS,
    DEFAULT_REGRESSION,
    GSDE_VARIANCE_FLOOR,
    INITIALIZATIONS,
    PLAIN_GAUSSIAN,
    POLICY_OUTPUT_GAIN,
    AdamSettings,
    GaussianHead,
    MirroredGaussian,
    MirroredSoftmax,
    NumpyMirror,
    Regression,
    RegressionState,
    adam_settings,
    checked_actions,
    no_critic,
)
from gradlogpi.policies.softmax_base import SoftmaxPolicy


def require_torch() -> Any:
    """Import torch or raise MissingExtraError with the command that installs it."""
    try:
        import torch
    except ImportError as error:
        raise MissingExtraError(
            'neural policies need PyTorch: pip install "gradlogpi[torch]"'
        ) from error
    return torch


def mlp(
    sizes: Sequence[int],
    activation: str,
    generator: Any,
    initialization: str = "orthogonal",
    output_gain: float = 1.0,
) -> Any:
    """torch.nn.Sequential of Linear layers with `activation` between them, float64.

    `initialization`: 'orthogonal' (the PPO implementations' choice: orthogonal weights
    with gain √2 in the hidden layers and `output_gain` in the last, zero biases) or
    'uniform' (PyTorch's default, U(±1/√fan_in) for weights and biases).
    """
    torch = require_torch()
    if activation not in ACTIVATIONS:
        raise ValueError(f"`activation` must be one of {ACTIVATIONS}; got {activation!r}")
    if initialization not in INITIALIZATIONS:
        raise ValueError(
            f"`initialization` must be one of {INITIALIZATIONS}; got {initialization!r}"
        )
    layers: list[Any] = []
    last = len(sizes) - 2
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layer = torch.nn.Linear(fan_in, fan_out, dtype=torch.float64)
        with torch.no_grad():
            if initialization == "orthogonal":
                gain = output_gain if i == last else float(np.sqrt(2.0))
                torch.nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
                layer.bias.zero_()
            else:
                bound = 1.0 / np.sqrt(fan_in)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(torch.nn.Tanh() if activation == "tanh" else torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def use_threads(threads: int | None) -> None:
    """PyTorch's intra-op threads (None: leave them as they are)."""
    if threads is not None:
        # small networks on few cores: more threads only add synchronisation
        require_torch().set_num_threads(check_positive_int("threads", threads))


class TorchPolicy(NumpyMirror, RunAxisParameters):
    """Shared machinery: flat parameters, the NumPy mirror for acting, optimizer steps."""

    network: Any
    optimizer: Any
    observation_shape: tuple[int, ...]
    # what each network family supplies (declared for the type checker; no runtime effect)
    _torch_actions: Callable[[Any, tuple[int, ...]], Any]
    _log_prob_with: Callable[..., Any]
    torch_log_prob: Callable[..., Any]
    torch_entropy: Callable[..., Any]
    log_prob: Callable[[Any, Any], np.ndarray]

    def _setup(
        self,
        sizes: Sequence[int],
        activation: str,
        seed: int,
        lr: float | AdamSettings,
        threads: int | None,
        initialization: str = "orthogonal",
        output_gain: float = 1.0,
    ) -> None:
        torch = require_torch()
        use_threads(threads)
        self.activation = activation
        generator = torch.Generator().manual_seed(int(seed))
        self._adopt(mlp(sizes, activation, generator, initialization, output_gain), lr)

    def _adopt(self, network: Any, lr: float | AdamSettings) -> None:
        """Train `network` (a float64 `torch.nn.Module`) with Adam at `lr`."""
        torch = require_torch()
        self.network = network
        adam = adam_settings(lr)
        self.lr, self.adam_epsilon = adam
        # the fused kernel: one call for all parameters, ~2× faster on the small nets here
        self.optimizer = torch.optim.Adam(
            self.parameters(), lr=adam.learning_rate, eps=adam.epsilon, fused=True
        )
        self.sync()

    def parameters(self) -> list[Any]:
        return list(self.network.parameters())

    def sync(self) -> None:
        """Copy the network's weights into the NumPy arrays used for acting."""
        linears = [m for m in self.network if hasattr(m, "weight")]
        self._layers = [
            (m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears
        ]

    @functools.cached_property
    def n_parameters(self) -> int:
        # fixed once the network is built; cached because runtime Protocol checks read it
        return int(sum(p.numel() for p in self.parameters()))

    def get_flat(self) -> np.ndarray:
        torch = require_torch()
        return torch.nn.utils.parameters_to_vector(self.parameters()).detach().numpy().copy()

    def set_flat(self, theta: Any) -> None:
        torch = require_torch()
        theta = as_float_array("theta", theta)
        if theta.shape != (self.n_parameters,):
            raise ShapeError(
                f"`theta` must have shape [P] with P={self.n_parameters}; got {theta.shape}"
            )
        torch.nn.utils.vector_to_parameters(torch.from_numpy(theta.copy()), self.parameters())
        self.sync()

    def parameter_blocks(self) -> dict[str, np.ndarray]:
        blocks, start = {}, 0
        for name, parameter in self.network.named_parameters():
            blocks[name] = np.arange(start, start + parameter.numel())
            start += parameter.numel()
        for name, parameter in getattr(self, "extra_parameters", {}).items():
            blocks[name] = np.arange(start, start + parameter.numel())
            start += parameter.numel()
        return blocks

    def score(self, obs: Any, a: Any) -> np.ndarray:
        """∇θ log π(a|s) per sample by autodiff (torch.func), flat, shape [..., P]."""
        torch = require_torch()
        from torch.func import grad, vmap

        obs_array = self._observations(obs)
        batch = self._batch_shape(obs_array)
        actions = self._torch_actions(a, batch)
        observations = torch.from_numpy(obs_array.reshape(-1, *self.observation_shape))
        actions = actions.reshape(-1, *actions.shape[len(batch) :])
        names = [name for name, _ in self._named_parameters()]
        values = tuple(p.detach() for _, p in self._named_parameters())

        def log_prob(parameters: Any, observation: Any, action: Any) -> Any:
            return self._log_prob_with(
                dict(zip(names, parameters, strict=True)), observation[None], action[None]
            )[0]

        per_sample = vmap(grad(log_prob), in_dims=(None, 0, 0))(values, observations, actions)
        flat = torch.cat([g.reshape(g.shape[0], -1) for g in per_sample], dim=1)
        return flat.numpy().reshape(*batch, -1)

    def _named_parameters(self) -> list[tuple[str, Any]]:
        named = [(f"network.{n}", p) for n, p in self.network.named_parameters()]
        return named + [(n, p) for n, p in getattr(self, "extra_parameters", {}).items()]

    def gradient_of(self, objective: Any) -> np.ndarray:
        """∇θ of a torch scalar built from this policy's parameters, flat, shape [P]."""
        torch = require_torch()
        gradients = torch.autograd.grad(objective, self.parameters(), allow_unused=True)
        return torch.cat(
            [
                (g if g is not None else torch.zeros_like(p)).reshape(-1)
                for g, p in zip(gradients, self.parameters(), strict=True)
            ]
        ).numpy()

    def weighted_score_sum(self, obs: Any, a: Any, weights: np.ndarray) -> np.ndarray:
        """Σ_i weights_i ∇θ log π(a_i|s_i) by one backward pass, shape [P]."""
        torch = require_torch()
        return self.gradient_of(
            (self.torch_log_prob(obs, a) * torch.from_numpy(np.asarray(weights, np.float64))).sum()
        )

    def mean_entropy_gradient(self, obs: Any) -> np.ndarray:
        """∇θ of the mean entropy over the states `obs` [..., k], shape [P]."""
        return self.gradient_of(self.torch_entropy(obs).mean())

    def optimizer_state(self) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
        """The optimizer's state as arrays (named optimizer_<param>_<field>) and JSON groups."""
        torch = require_torch()
        state = self.optimizer.state_dict()
        arrays = {}
        for index, entries in state["state"].items():
            for name, value in entries.items():
                array = value.detach().numpy() if torch.is_tensor(value) else np.asarray(value)
                arrays[f"optimizer_{index}_{name}"] = array.copy()
        return arrays, state["param_groups"]

    def load_optimizer_state(
        self, arrays: dict[str, np.ndarray], groups: list[dict[str, Any]]
    ) -> None:
        """Put back what `optimizer_state` returned, so training continues identically."""
        torch = require_torch()
        state: dict[int, dict[str, Any]] = {}
        for key, value in arrays.items():
            _, index, name = key.split("_", 2)
            state.setdefault(int(index), {})[name] = torch.from_numpy(np.array(value))
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})
        self.adam_epsilon = self.optimizer.param_groups[0]["eps"]  # as it was saved

    def optimizer_step(self, gradient: np.ndarray, learning_rate_scale: float = 1.0) -> None:
        """One step of the PyTorch optimizer along the ascent direction `gradient` [P].

        `learning_rate_scale` multiplies the policy's `lr` for this step (a schedule).
        """
        torch = require_torch()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr * learning_rate_scale
        start = 0
        for parameter in self.parameters():
            size = parameter.numel()
            parameter.grad = -torch.from_numpy(
                gradient[start : start + size].reshape(parameter.shape).copy()
            )
            start += size
        self.optimizer.step()
        self.sync()

    def update_kept_finite(self, update: Callable[[], object]) -> bool:
        """Run `update` (which changes θ in place); if it leaves a parameter not finite, put
        θ back; returns whether the update was kept.

        `common.update_kept_finite` for a network: the parameters are cloned tensor by
        tensor instead of flattened into NumPy twice (90 µs each on a 4-128-2 MLP).
        """
        torch = require_torch()
        parameters = self.parameters()
        saved = [parameter.detach().clone() for parameter in parameters]
        update()
        if all(bool(torch.isfinite(parameter).all()) for parameter in parameters):
            return True
        with torch.no_grad():
            for parameter, old in zip(parameters, saved, strict=True):
                parameter.copy_(old)
        self.sync()
        return False

    def maximize_minibatches(
        self,
        objective: Objective,
        samples: Mapping[str, np.ndarray],
        plan: Minibatches,
        settings: Mapping[str, float],
        ascent: Ascent = DEFAULT_ASCENT,
        critic: ValueFunction | None = None,
    ) -> int:
        """Epochs of one Adam step per minibatch up `objective` (see `NetworkPolicy`),
        evaluated eagerly with `xp` = torch, with a `NeuralValue` critic trained jointly
        if given; returns the epochs run."""
        torch = require_torch()
        if critic is not None and not isinstance(critic, NeuralValue):
            raise TypeError(
                f"`critic` must be a NeuralValue to train with a PyTorch policy; got "
                f"{type(critic).__name__}"
            )
        tensors = {name: torch.from_numpy(np.asarray(array)) for name, array in samples.items()}
        observations, actions = samples["observations"], samples["actions"]
        epochs = 0
        for rows in plan.indices:
            epochs += 1
            for row in rows:
                indices = row[row >= 0]
                selected = torch.from_numpy(indices)
                batch = {name: tensor[selected] for name, tensor in tensors.items()}
                batch["weight"] = torch.full(
                    (indices.size,), 1.0 / indices.size, dtype=torch.float64
                )
                states = observations[indices]
                value = objective(
                    torch,
                    self.torch_log_prob(states, actions[indices], training=True),
                    functools.partial(self.torch_entropy, states, training=True),
                    no_critic if critic is None else functools.partial(critic.torch_value, states),
                    batch,
                    settings,
                )
                if critic is None:
                    self.maximize(value, ascent.learning_rate_scale, ascent.max_grad_norm)
                else:
                    self.maximize_with(critic, value, ascent)
            if ascent.stop is not None:
                everything = dict(samples, weight=np.full(len(actions), 1.0 / len(actions)))
                if bool(
                    ascent.stop(np, self.log_prob(observations, actions), everything, settings)
                ):
                    break
        return epochs

    def maximize_with(self, critic: NeuralValue, objective: Any, ascent: Ascent) -> None:
        """One step of both networks' Adams up `objective`, clipped by their joint norm."""
        torch = require_torch()
        models = (self, critic)
        for model in models:
            for group in model.optimizer.param_groups:
                group["lr"] = model.lr * ascent.learning_rate_scale
            model.optimizer.zero_grad()
        (-objective).backward()
        if ascent.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(
                [*self.parameters(), *critic.parameters()], ascent.max_grad_norm
            )
        for model in models:
            model.optimizer.step()
            model.sync()

    def maximize(
        self,
        objective: Any,
        learning_rate_scale: float = 1.0,
        max_grad_norm: float | None = None,
    ) -> None:
        """One optimizer step that increases the torch scalar `objective` (autodiff).

        `learning_rate_scale` multiplies `lr` for this step; `max_grad_norm` clips the
        gradient's norm first (None: no clipping).
        """
        torch = require_torch()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr * learning_rate_scale
        self.optimizer.zero_grad()
        (-objective).backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.parameters(), max_grad_norm)
        self.optimizer.step()
        self.sync()


class NeuralSoftmaxPolicy(TorchPolicy, MirroredSoftmax, SoftmaxPolicy):  # type: ignore[override]
    """π(·|s) = softmax(MLP(s)) for Discrete actions and Box observations of shape [k].

    Sampling, log-probabilities and entropy come from `SoftmaxPolicy` (on the NumPy copy
    of the network); parameters, scores and updates from `TorchPolicy`.

    Args:
      observation_dim: k.
      n_actions: A.
      hidden: hidden layer sizes, e.g. (128,).
      activation: 'tanh' or 'relu'.
      seed: seed of the weight initialisation.
      lr: Adam's step size, or `AdamSettings(step size, ε)` (ε 1e-5 by default, as SB3's
        PPO).
      threads: PyTorch threads (1 by default: small nets get slower with more).
      initialization: 'orthogonal' (default: gain √2 hidden, 0.01 for the output layer,
        zero biases, as SB3's and CleanRL's PPO) or 'uniform' (PyTorch's default).
    """

    def __init__(
        self,
        observation_dim: int,
        n_actions: int,
        hidden: Sequence[int] = (64,),
        activation: str = "tanh",
        *,
        seed: int = 0,
        lr: float | AdamSettings = 0.01,
        threads: int | None = 1,
        initialization: str = "orthogonal",
    ):
        self.observation_shape = (check_positive_int("observation_dim", observation_dim),)
        self.n_actions = check_positive_int("n_actions", n_actions)
        self.hidden = tuple(check_positive_int("hidden", h) for h in hidden)
        sizes = [observation_dim, *self.hidden, n_actions]
        # a small last layer: π starts near uniform (gain 0.01, as SB3 and CleanRL)
        self._setup(sizes, activation, seed, lr, threads, initialization, POLICY_OUTPUT_GAIN)

    def torch_log_prob(self, obs: Any, a: Any, training: bool = False) -> Any:
        """log π(a|s) as a differentiable torch tensor, shape [...] (`training`: as an
        update differentiates it; the same for a softmax policy)."""
        torch = require_torch()
        obs_array = self._observations(obs)
        batch = self._batch_shape(obs_array)
        return self._log_prob_with(None, torch.from_numpy(obs_array), self._torch_actions(a, batch))

    def torch_entropy(self, obs: Any, training: bool = False) -> Any:
        torch = require_torch()
        log_probabilities = torch.log_softmax(
            self._logits_with(None, torch.from_numpy(self._observations(obs))), dim=-1
        )
        return -(log_probabilities.exp() * log_probabilities).sum(dim=-1)

    def _logits_with(self, parameters: dict[str, Any] | None, observations: Any) -> Any:
        """h(s,·) as a torch tensor [..., A] from observations [..., k], with the network's
        own parameters or, for `torch.func`, `parameters` by name."""
        if parameters is None:
            return self.network(observations)
        from torch.func import functional_call

        inner = {name.removeprefix("network."): value for name, value in parameters.items()}
        return functional_call(self.network, inner, (observations,))

    def _log_prob_with(
        self, parameters: dict[str, Any] | None, observations: Any, actions: Any
    ) -> Any:
        torch = require_torch()
        log_probabilities = torch.log_softmax(self._logits_with(parameters, observations), dim=-1)
        return log_probabilities.gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    def _torch_actions(self, a: Any, batch: tuple[int, ...]) -> Any:
        torch = require_torch()
        return torch.from_numpy(check_actions("a", a, batch, self.n_actions, "obs"))


class NeuralGaussianPolicy(TorchPolicy, MirroredGaussian):
    """π(a|s) = N(MLP(s), diag σ²) for Box actions of shape [m], with a learned log σ.

    Args:
      observation_dim: k.
      action_dim: m.
      hidden, activation, seed, lr, initialization: as `NeuralSoftmaxPolicy`.
      head: `GaussianHead`: the initial log σ and, optionally, the action box to squash
        into (a = c + h·tanh(u), log π with the exact log |da/du|).

    It sets PyTorch to one thread, as the other networks do by default (small networks
    get slower with more); call `torch.set_num_threads` after building it to change that.
    """

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        hidden: Sequence[int] = (64,),
        activation: str = "tanh",
        *,
        seed: int = 0,
        lr: float | AdamSettings = 0.01,
        head: GaussianHead = PLAIN_GAUSSIAN,
        initialization: str = "orthogonal",
    ):
        torch = require_torch()
        self.observation_shape = (check_positive_int("observation_dim", observation_dim),)
        self.action_dim = check_positive_int("action_dim", action_dim)
        log_std0 = head.log_std0
        self._settle_squash(head)
        self.hidden = tuple(check_positive_int("hidden", h) for h in hidden)
        sizes = [observation_dim, *self.hidden, action_dim]
        std_shape = self._settle_exploration(head, sizes[-2])
        eta = self._initial_eta(log_std0)
        self.eta = torch.nn.Parameter(torch.full(std_shape, eta, dtype=torch.float64))
        self.extra_parameters = {"eta": self.eta}
        self._setup(sizes, activation, seed, lr, 1, initialization, POLICY_OUTPUT_GAIN)

    def parameters(self) -> list[Any]:
        return [*self.network.parameters(), self.eta]

    def sync(self) -> None:
        super().sync()
        self._log_std = self._log_std_of(self.eta.detach().numpy())

    def torch_log_prob(self, obs: Any, a: Any, training: bool = False) -> Any:
        """log π(a|s) as a differentiable torch tensor, shape [...] (`training`: as an
        update differentiates it, see `GSDE.learn_features`)."""
        torch = require_torch()
        obs_array = self._observations(obs)
        return self._log_prob_with(
            None,
            torch.from_numpy(obs_array),
            self._torch_actions(a, self._batch_shape(obs_array)),
            training,
        )

    def torch_entropy(self, obs: Any, training: bool = False) -> Any:
        torch = require_torch()
        observations = self._observations(obs)
        if self._gsde is not None:
            _, log_std = self._moments_with(None, torch.from_numpy(observations), training)
            return (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(dim=-1)
        per_state = (self._torch_log_std(self.eta) + 0.5 * np.log(2 * np.pi * np.e)).sum()
        return per_state.expand(self._batch_shape(observations))

    def _moments_with(
        self, parameters: dict[str, Any] | None, observations: Any, training: bool = False
    ) -> tuple[Any, Any]:
        """(μ(s), log σ(s)) [..., m] from this network's parameters or from `parameters`
        (`_named_parameters`' names, for torch.func); with gSDE log σ(s) = ½ log v(s), the
        features in v(s) held constant in `training` unless `learn_features`."""
        eta = self.eta if parameters is None else parameters["eta"]
        log_std = self._torch_log_std(eta)
        body, head = self.network[:-1], self.network[-1]
        if parameters is None:
            features = body(observations) if self._gsde is not None else None
            mean = self.network(observations) if features is None else head(features)
        else:
            from torch.func import functional_call

            inner = {
                n.removeprefix("network."): v
                for n, v in parameters.items()
                if n.startswith("network.")
            }
            if self._gsde is None:
                features, mean = None, functional_call(self.network, inner, (observations,))
            else:  # Sequential slices keep their layers' names: "0.weight", …
                last = f"{len(self.network) - 1}."
                features = functional_call(
                    body, {n: v for n, v in inner.items() if not n.startswith(last)}, observations
                )
                head_weights = {
                    n.removeprefix(last): v for n, v in inner.items() if n.startswith(last)
                }
                mean = functional_call(head, head_weights, features)
        gsde = self._gsde
        if features is None or gsde is None:
            return mean, log_std.expand(mean.shape)
        if training and not gsde.learn_features:
            features = features.detach()
        variance = features**2 @ (2.0 * log_std).exp() + GSDE_VARIANCE_FLOOR
        return mean, 0.5 * variance.log()

    def _torch_log_std(self, eta: Any) -> Any:
        """log σ from η: η itself, or within the smooth bounds."""
        if self.log_std_bounds is None:
            return eta
        torch = require_torch()
        low, high = self.log_std_bounds
        return low + (high - low) * torch.sigmoid(eta)

    def _log_prob_with(
        self,
        parameters: dict[str, Any] | None,
        observations: Any,
        actions: Any,
        training: bool = False,
    ) -> Any:
        mean, log_std = self._moments_with(parameters, observations, training)
        correction: Any = 0.0
        if self._squash is not None:  # u = tanh⁻¹((a − c)/h); the Jacobian term is θ-free
            torch = require_torch()
            center, half_width = (torch.from_numpy(x) for x in self._squash)
            x = torch.clamp((actions - center) / half_width, -1.0, 1.0)
            actions = torch.atanh(torch.clamp(x, -1.0 + SQUASH_EDGE, 1.0 - SQUASH_EDGE))
            stable = 2.0 * (np.log(2.0) - actions - torch.nn.functional.softplus(-2.0 * actions))
            correction = (torch.log(half_width) + stable).sum(dim=-1)
        z = (actions - mean) * (-log_std).exp()
        return (-0.5 * z**2 - log_std - 0.5 * np.log(2 * np.pi)).sum(dim=-1) - correction

    def _torch_actions(self, a: Any, batch: tuple[int, ...]) -> Any:
        torch = require_torch()
        return torch.from_numpy(checked_actions(a, batch, self.action_dim))


class NeuralValue(RegressionState, TorchPolicy):
    """v̂(s, w) = MLP(s), a critic for Box observations of shape [k], fitted by regression.

    Acting-free, but it shares `TorchPolicy`'s machinery: flat w, the NumPy mirror for
    evaluating v̂ without torch, Adam.

    Args:
      observation_dim: k.
      hidden, activation, seed, lr, threads: as `NeuralSoftmaxPolicy`.
      regression: how `fit` regresses (`Regression`: epochs, minibatches, clip_range).
    """

    def __init__(
        self,
        observation_dim: int,
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
        *,
        seed: int = 0,
        lr: float | AdamSettings = 1e-3,
        regression: Regression = DEFAULT_REGRESSION,
        threads: int | None = 1,
        initialization: str = "orthogonal",
    ):
        self.observation_shape = (check_positive_int("observation_dim", observation_dim),)
        self.hidden = tuple(check_positive_int("hidden", h) for h in hidden)
        self._settle(regression, seed)
        self._setup(
            [observation_dim, *self.hidden, 1], activation, seed, lr, threads, initialization
        )

    def value(self, obs: Any) -> np.ndarray:
        """v̂(s, w), shape [...]."""
        return self._forward(self._observations(obs))[..., 0]

    def torch_value(self, obs: Any) -> Any:
        """v̂(s) as a differentiable torch tensor, shape [...]."""
        torch = require_torch()
        return self._values_of(torch.from_numpy(np.ascontiguousarray(self._observations(obs))))

    def _values_of(self, observations: Any) -> Any:
        """v̂ as a torch tensor [...] of torch observations [..., k]."""
        return self.network(observations)[..., 0]

    def gradient(self, obs: Any) -> np.ndarray:
        """∇_w v̂(s, w) per state by autodiff, flat, shape [..., P]."""
        torch = require_torch()
        from torch.func import functional_call, grad, vmap

        obs_array = self._observations(obs)
        batch = self._batch_shape(obs_array)
        names = [name for name, _ in self.network.named_parameters()]
        values = tuple(p.detach() for p in self.parameters())

        def one(parameters: tuple[Any, ...], observation: Any) -> Any:
            weights = dict(zip(names, parameters, strict=True))
            return functional_call(self.network, weights, (observation[None],))[0, 0]

        observations = torch.from_numpy(obs_array.reshape(-1, *self.observation_shape))
        per_sample = vmap(grad(one), in_dims=(None, 0))(values, observations)
        flat = torch.cat([g.reshape(g.shape[0], -1) for g in per_sample], dim=1)
        return flat.numpy().reshape(*batch, -1)

    def ascend(self, obs: Any, step: Any) -> None:
        """w ← w + Σ step · ∇_w v̂(s, w) over the batch (one backward pass)."""
        torch = require_torch()
        obs_array = self._observations(obs)
        steps = np.broadcast_to(as_float_array("step", step), self._batch_shape(obs_array))
        objective = (self.torch_value(obs_array) * torch.from_numpy(steps.copy())).sum()
        self.set_flat(self.get_flat() + self.gradient_of(objective))

    def fit(self, obs: Any, targets: np.ndarray, ridge: float) -> None:
        """Regress v̂ on the targets: epochs × minibatches of Adam on the squared error.

        Args:
          obs: states, shape [M, k].
          targets: what v̂ should approach there (returns, λ-returns), shape [M].
          ridge: the linear critic's ridge; a network ignores it and uses its own
            `Regression.weight_decay` (0 by default, as SB3: an L2 penalty of 2·10⁻³ here
            kept CartPole's PPO from solving 4 of 10 seeds, docs/ppo-vs-sb3.md).
        """
        torch = require_torch()
        obs_array = self._observations(obs)
        targets = np.asarray(targets, dtype=np.float64)
        old = self.value(obs_array)
        for group in self.optimizer.param_groups:
            group["weight_decay"] = 2.0 * self.weight_decay  # the gradient of c·‖w‖²
        n_samples = obs_array.shape[0]
        for _ in range(self.epochs):
            for indices in np.array_split(self._shuffle.permutation(n_samples), self.minibatches):
                target = torch.from_numpy(targets[indices])
                predicted = self._values_of(torch.from_numpy(obs_array[indices]))
                loss = (predicted - target) ** 2
                if self.clip_range is not None:
                    start = torch.from_numpy(old[indices])
                    moved = start + torch.clamp(
                        predicted - start, -self.clip_range, self.clip_range
                    )
                    loss = torch.maximum(loss, (moved - target) ** 2)
                self.optimizer.zero_grad()
                (0.5 * loss.mean()).backward()
                self.optimizer.step()
        self.sync()
