"""Training configuration: a TOML file validated by pydantic before any work starts.

Every problem is a `ConfigError` naming the file, the key, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from gradlogpi.errors import ConfigError
from gradlogpi.runs.choices import did_you_mean, one_of
from gradlogpi.runs.limits import MAX_SEED

# episodes of each evaluation during training (eval_every): measured in docs/guide/evaluation.md
EVAL_EPISODES = 20


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeaturesConfig(Strict):
    """How observations become features (see `gradlogpi.features`)."""

    kind: str | None = Field(
        None,
        description="a name in gradlogpi.runs.feature_kinds.FEATURE_KINDS; default by the "
        "environment: the shipped tasks' book features (corridor, border), one-hot for "
        "Discrete observations, raw for Box",
    )
    degree: int = Field(2, ge=0, description="polynomial degree")
    interactions: bool = True
    order: int = Field(3, ge=0, description="Fourier order")
    centres_per_dim: int = Field(5, ge=1, description="RBF centres per dimension")
    width: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="RBF width in scaled units"
    )
    n_tilings: int = Field(8, ge=1)
    tiles_per_dim: int = Field(8, ge=1)
    table_size: int | None = Field(None, ge=1, description="hashed tile table size")
    bounds: list[tuple[float, float]] | None = Field(
        None, description="[low, high] per observation dimension"
    )
    position: bool = Field(True, description="grid world: add a one-hot of the cell")
    action_block: bool = Field(
        True, description="linear_softmax: φ = onehot(a) ⊗ [x, 1] (else stacked [x, onehot(a)])"
    )

    _kind = field_validator("kind")(classmethod(lambda cls, kind: registered_feature_kind(kind)))


class GsdeConfig(Strict):
    """`[policy.gsde]`: generalised state-dependent exploration (SB3's `use_sde`) for a
    neural_gaussian policy (see `gradlogpi.policies.networks.GSDE`)."""

    sample_every: int = Field(
        4,
        ge=0,
        strict=True,
        description="steps between draws of the exploration matrix in step-based "
        "collection, from each update's first (SB3's sde_sample_freq); 0: one per update",
    )
    learn_features: bool = Field(
        False,
        strict=True,
        description="let the update's gradient reach the features through σ(s) (SB3's "
        "learn_features, default false)",
    )


class PolicyConfig(Strict):
    """Which policy and its settings."""

    kind: str | None = Field(
        None,
        description="a name in gradlogpi.runs.policy_kinds.POLICY_KINDS; default by the "
        "environment: linear_gaussian for Box actions; for Discrete actions linear_softmax "
        "with the corridor's features, else matrix_softmax",
    )
    hidden: list[int] = Field(default_factory=lambda: [64])
    activation: Literal["tanh", "relu"] = "tanh"
    lr: float = Field(
        0.01, gt=0, allow_inf_nan=False, description="Adam step size of neural policies"
    )
    adam_epsilon: float = Field(
        1e-5,
        gt=0,
        allow_inf_nan=False,
        description="Adam's ε of neural policies (1e-5 as SB3's and CleanRL's PPO; "
        "PyTorch's default is 1e-8)",
    )
    initialization: Literal["orthogonal", "uniform"] = Field(
        "orthogonal",
        description="neural policies' weights: orthogonal (gain √2, output 0.01, as SB3's "
        "PPO) or uniform (PyTorch's default)",
    )
    backend: Literal["torch", "jax"] = Field(
        "torch",
        description="what trains a neural policy and its neural critic: torch (eager, "
        "float64) or jax (each update one compiled call; extra gradlogpi[jax])",
    )
    dtype: Literal["float32", "float64"] | None = Field(
        None,
        description="what neural training computes in: jax float32 by default (as SB3 and "
        "SBX), torch float64 only; scores and gradient checks are float64 either way",
    )
    log_std0: float = Field(0.0, allow_inf_nan=False)
    log_std: Literal["free", "bounded"] | None = Field(
        None,
        description="neural_gaussian: log σ a free parameter (free, the default: SB3's) or "
        "smoothly bounded in [−5, 2] by a sigmoid (bounded: every neural Gaussian before "
        "2026-12-03; run directories written then, without this key, load as bounded)",
    )
    squash: bool = Field(
        False,
        description="neural_gaussian: squash into the action box, a = c + h·tanh(u), with "
        "the exact log-Jacobian in log π (else the collector clips samples to the box)",
    )
    gsde: GsdeConfig | None = Field(
        None,
        description="neural_gaussian: state-dependent exploration, σ(s) from the last "
        "hidden layer, the noise held for sample_every steps; absent: σ independent of s",
    )
    network: str | None = Field(
        None,
        description="neural_softmax, neural_gaussian: your own network instead of the MLP, "
        "'module:function'; the function takes (observation_shape, outputs, seed) and returns "
        "a torch.nn.Module (backend torch) or (apply, parameters) (backend jax); hidden, "
        "activation and initialization are then unused",
    )
    learn_std: bool = True
    state_dependent_std: bool = False
    init_scale: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="θ0 ~ N(0, scale²); 0 gives zeros"
    )
    p_right0: float | None = Field(
        None, gt=0, lt=1, description="short corridor: start at π(right) = p"
    )

    _sizes = field_validator("hidden")(classmethod(lambda cls, sizes: positive_sizes(sizes)))
    _kind = field_validator("kind")(classmethod(lambda cls, kind: registered_policy_kind(kind)))
    _network = field_validator("network")(classmethod(lambda cls, name: importable_name(name)))


def importable_name(name: str | None) -> str | None:
    """`name` once it reads 'module:attribute' (a dotted module path, a Python name)."""
    if name is not None and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", name):
        raise ValueError(f"expected 'module:function', e.g. 'mynets:policy_network'; got {name!r}")
    return name


def registered_feature_kind(kind: str | None) -> str | None:
    """`features.kind`: None (chosen by the environment) or a registered feature kind."""
    from gradlogpi.runs.feature_kinds import FEATURE_KINDS

    if kind is not None and kind not in FEATURE_KINDS:
        raise ValueError(one_of(kind, list(FEATURE_KINDS)))
    return kind


def registered_policy_kind(kind: str | None) -> str | None:
    """`policy.kind`: None (chosen by the environment) or a registered policy kind."""
    from gradlogpi.runs.policy_kinds import POLICY_KINDS

    if kind is not None and kind not in POLICY_KINDS:
        raise ValueError(one_of(kind, list(POLICY_KINDS)))
    return kind


def positive_sizes(sizes: list[int]) -> list[int]:
    """Hidden layer sizes: a non-empty list of ints >= 1."""
    if not sizes or any(size < 1 for size in sizes):
        raise ValueError("expected a non-empty list of layer sizes >= 1")
    return sizes


class ValueConfig(Strict):
    """Which critic (value function) and its settings, where the algorithm uses one."""

    kind: Literal["linear", "neural"] = Field(
        "linear",
        description="linear: v̂ = wᵀx(s) over `value_features`; neural: an MLP fitted by "
        "regression (ppo, trpo)",
    )
    hidden: list[int] = Field(default_factory=lambda: [64, 64])
    activation: Literal["tanh", "relu"] = "tanh"
    lr: float = Field(
        1e-3, gt=0, allow_inf_nan=False, description="Adam step size of a neural critic"
    )
    adam_epsilon: float = Field(
        1e-5, gt=0, allow_inf_nan=False, description="Adam's ε of a neural critic"
    )
    initialization: Literal["orthogonal", "uniform"] = Field(
        "orthogonal",
        description="a neural critic's weights: orthogonal (gain √2, output 1) or uniform",
    )
    epochs: int = Field(10, ge=1, description="passes over each update's targets (neural)")
    minibatches: int = Field(4, ge=1, description="minibatches per pass (neural)")
    clip_range: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="value clipping as PPO's (SB3 clip_range_vf); None: off",
    )
    weight_decay: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="a neural critic's L2 penalty c·‖w‖² (0: none, as SB3); the linear "
        "critic's ridge is hyperparameters.value_ridge",
    )
    network: str | None = Field(
        None,
        description="kind neural: your own network instead of the MLP, 'module:function', "
        "as policy.network's (outputs 1)",
    )

    _sizes = field_validator("hidden")(classmethod(lambda cls, sizes: positive_sizes(sizes)))
    _network = field_validator("network")(classmethod(lambda cls, name: importable_name(name)))


class TrainConfig(Strict):
    """A whole training run."""

    env: str = "CartPole-v1"
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    env_module: str | None = Field(
        None,
        description="a module to import before making `env` (it may register environments; "
        "importing it runs its code). Needed for an id of the form module:Env",
    )
    algorithm: str = Field(
        "batch_pg", description="a name in gradlogpi.algorithms.registry.ALGORITHMS"
    )
    seed: int = Field(0, ge=0, le=MAX_SEED, description="in [0, 2**62]")
    runs: int = Field(
        1, ge=1, description="independent runs (vectorised where the algorithm allows)"
    )
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    value_features: FeaturesConfig | None = None
    value: ValueConfig = Field(default_factory=ValueConfig)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    evaluation_episodes: int = Field(
        100, ge=0, description="fresh episodes per evaluation of the final policy (0: none)"
    )
    eval_every: int = Field(
        0,
        ge=0,
        description="also evaluate every N progress units (episodes or updates) and keep each "
        "run's best policy in checkpoint_best (0: only the final policy)",
    )
    eval_episodes: int = Field(
        EVAL_EPISODES,
        ge=1,
        description="fresh episodes per evaluation during training (eval_every); sized so "
        "that eval_every=25 adds under 10% to configs/cartpole_linear.toml's run (6% measured)",
    )
    evaluation_mode: Literal["stochastic", "greedy"] = Field(
        "stochastic",
        description="stochastic: sample actions as in training; greedy: the most probable "
        "action (the Gaussian's mean), as SB3's deterministic evaluation",
    )
    checkpoint_every: int = Field(
        0, ge=0, description="also checkpoint every N episodes or updates (0: only by time)"
    )
    checkpoint_seconds: float = Field(
        30.0,
        ge=0,
        allow_inf_nan=False,
        description="also checkpoint once this many seconds have passed since the last "
        "checkpoint, so a kill loses at most about that much work (0: off)",
    )
    tensorboard: bool = Field(
        False, description="also write TensorBoard event files (extra gradlogpi[tensorboard])"
    )
    tune: dict[str, Any] | None = Field(
        None,
        description="the search space of `gradlogpi tune` (read and checked by that command, "
        "gradlogpi.runs.tuning); training ignores it",
    )

    @field_validator("algorithm")
    @classmethod
    def _registered(cls, name: str) -> str:
        from gradlogpi.algorithms.registry import ALGORITHMS

        if name not in ALGORITHMS:
            names = sorted(ALGORITHMS)
            raise ValueError(f"expected one of {names}{did_you_mean(name, names)}")
        return name

    def algorithm_spec(self) -> Any:
        """The registry entry of `algorithm` (`gradlogpi.algorithms.registry.AlgorithmSpec`)."""
        from gradlogpi.algorithms.registry import get

        return get(self.algorithm)

    @model_validator(mode="after")
    def _policy_fits_algorithm(self) -> TrainConfig:
        from gradlogpi.algorithms.registry import ALGORITHMS
        from gradlogpi.runs.policy_kinds import POLICY_KINDS

        spec = ALGORITHMS.get(self.algorithm)
        kind = self.policy.kind
        if spec is None or kind is None or kind not in POLICY_KINDS:
            return self
        if POLICY_KINDS[kind].family not in spec.policies:
            expected = "a neural policy" if spec.policies == ("torch",) else "a linear policy"
            raise ValueError(
                f"`policy.kind` = {kind!r} cannot be learned by algorithm {self.algorithm!r}, "
                f"which needs {expected}"
            )
        return self

    @model_validator(mode="after")
    def _joint_fitting_has_networks(self) -> TrainConfig:
        from gradlogpi.runs.policy_kinds import POLICY_KINDS

        if self.hyperparameters.get("value_fitting") != "joint":
            return self
        kind = POLICY_KINDS.get(self.policy.kind or "")
        if kind is None or kind.family != "torch" or self.value.kind != "neural":
            raise ValueError(
                "`hyperparameters.value_fitting` = 'joint' trains a neural policy and a "
                "neural critic on one loss ('auto' does so only where both are networks): it "
                "needs a neural `policy.kind` and `value.kind` "
                f"= 'neural'; got policy.kind = {self.policy.kind!r}, value.kind = "
                f"{self.value.kind!r}"
            )
        return self

    @model_validator(mode="after")
    def _critic_fits_algorithm(self) -> TrainConfig:
        from gradlogpi.algorithms.registry import ALGORITHMS

        spec = ALGORITHMS.get(self.algorithm)
        if spec is None or self.value.kind == "linear":
            return self
        if self.value.kind not in spec.critics:
            raise ValueError(
                f"`value.kind` = {self.value.kind!r} cannot be learned by algorithm "
                f"{self.algorithm!r}, which learns a {' or '.join(spec.critics)} critic"
            )
        if self.value_features is not None:
            raise ValueError(
                "`value_features` is for a linear critic; `value.kind` = 'neural' reads the "
                "raw observation"
            )
        return self

    def algorithm_config(self, source: str = "<config>") -> Any:
        """The algorithm's frozen dataclass built from `hyperparameters` (errors name the key)."""
        config_class = self.algorithm_spec().config_class
        known = {f.name: f for f in dataclasses.fields(config_class)}
        for key, value in self.hyperparameters.items():
            if key not in known:
                raise ConfigError(
                    f"{source}: unknown key `hyperparameters.{key}` = {value!r} for algorithm "
                    f"{self.algorithm!r}; expected one of {sorted(known)}"
                )
        hints = typing.get_type_hints(config_class)
        for key, value in self.hyperparameters.items():
            try:  # the field's declared type first: a bool or a choice is not truthiness
                TypeAdapter(hints[key]).validate_python(value)
            except ValidationError:
                expected = described_type(hints[key])
                raise ConfigError(
                    f"{source}: `hyperparameters.{key}` = {value!r}: expected {expected}"
                ) from None
        try:
            return config_class(**self.hyperparameters)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"{source}: `hyperparameters`: {error}") from error


def described_type(hint: Any) -> str:
    """A field's type in words: 'float', 'int | None', "one of 'constant', 'linear'"."""
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A TOML file as a dict; ConfigError naming the file if missing, not TOML or not UTF-8."""
    path = Path(path)
    if path.exists() and not path.is_file():
        # a directory, a FIFO (reading it would wait forever), a device
        raise ConfigError(f"{path}: not a regular file; expected a {what} file (TOML)")
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the {what} file ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text: {error}") from None


def load_config(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    origins: dict[str, str] | None = None,
) -> TrainConfig:
    """Read a TOML config (or start from defaults), apply `overrides`, validate.

    Overrides use dotted keys: {"policy.kind": "neural_softmax", "hyperparameters.gamma": 0.9}.
    `origins` names where an override came from when not `--set KEY` ({"algorithm":
    "--algorithm"}), so an error names the flag the user typed.
    Raises ConfigError naming file (or flag), key, value and expectation.
    """
    source = str(path) if path is not None else ("the command line" if overrides else "<defaults>")
    data: dict[str, Any] = read_toml(path, "config") if path is not None else {}
    # shallow keys first: `--algorithm ppo` with `--set algorithm.x=1` then meets the name
    # `algorithm` and is refused, instead of the name silently replacing the table
    for dotted, value in sorted((overrides or {}).items(), key=lambda item: item[0].count(".")):
        target = data
        *parents, last = dotted.split(".")
        for key in parents:
            existing = target.get(key)
            if existing is None:
                existing = target[key] = {}
            if not isinstance(existing, dict):
                hint = (
                    " (an algorithm's settings are hyperparameters.KEY)"
                    if key == "algorithm"
                    else ""
                )
                raise ConfigError(
                    f"{source}: cannot set `{dotted}`: `{key}` is {existing!r}, not a table{hint}"
                )
            target = existing
        target[last] = value
    overrides = overrides or {}
    try:
        config = TrainConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        if not first["loc"]:  # a check across keys: the message names them
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{source}: {message}") from None
        key = ".".join(str(part) for part in first["loc"])
        value = first.get("input")
        hint = _where_it_belongs(key) if first["type"] == "extra_forbidden" else ""
        origin = _origin(key, overrides, source, origins or {})
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{origin}: `{key}` = {value!r}: {message}{hint}") from None
    try:
        config.algorithm_config(source)
    except ConfigError as error:
        named = re.search(r"`(?:hyperparameters\.)?(\w+)`", str(error.__cause__ or error))
        if named and f"hyperparameters.{named.group(1)}" in overrides:
            origin = f"--set hyperparameters.{named.group(1)}"
            raise ConfigError(str(error).replace(source, origin, 1)) from None
        raise
    return config


def legacy_log_std(table: Any) -> dict[str, str]:
    """{"policy.log_std": "bounded"} for a neural Gaussian's `[policy]` table written before
    `policy.log_std` existed (no such key: it trained the bounded log σ), else {}. Tables
    written since always hold the key (run directories: resolved; studies: every key)."""
    legacy = (
        isinstance(table, dict)
        and table.get("kind") == "neural_gaussian"
        and "log_std" not in table
    )
    return {"policy.log_std": "bounded"} if legacy else {}


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The config a run directory was trained with (its config.toml), a run from before
    `policy.log_std` with the bounded log σ it trained (`legacy_log_std`)."""
    path = Path(run_dir) / "config.toml"
    return load_config(path, legacy_log_std(read_toml(path, "config").get("policy")) or None)


def _origin(key: str, overrides: dict[str, Any], source: str, origins: dict[str, str]) -> str:
    """Where a key's value came from: its flag, a --set override (or one above it), else the
    file."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        given = ".".join(parts[:end])
        if given in overrides:
            return origins.get(given, f"--set {given}")
    return source


def _where_it_belongs(key: str) -> str:
    """A hint for a key at the wrong level: the table that has a field of that name."""
    from gradlogpi.algorithms.registry import ALGORITHMS

    name = key.split(".")[-1]
    tables = [
        table
        for table, model in (("policy", PolicyConfig), ("features", FeaturesConfig))
        if name in model.model_fields
    ]
    if any(
        name in {f.name for f in dataclasses.fields(spec.config_class)}
        for spec in ALGORITHMS.values()
    ):
        tables.append("hyperparameters")
    if tables:
        return "; did you mean " + " or ".join(f"`{table}.{name}`" for table in tables) + "?"
    return f"; the top-level keys are {sorted(TrainConfig.model_fields)}"


def config_to_toml(config: TrainConfig) -> str:
    """The fully resolved config as TOML text (None values left out)."""
    import tomli_w

    return tomli_w.dumps(_without_none(config.model_dump(mode="json")))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value
