"""The `[tune]` table of a config: the search space and the search's settings (no Optuna).

    [tune]
    startup_trials = 5          # random trials before TPE models, and before pruning starts
    warmup_evaluations = 1      # a trial is never pruned before this many evaluations
    [tune.space]
    "hyperparameters.alpha_theta" = {float = [1e-4, 1e-1], log = true}
    "hyperparameters.epochs" = {int = [5, 20]}
    "hyperparameters.schedule" = {choices = ["constant", "linear"]}

Every key of `[tune.space]` is a key `--set` accepts; each value is one of the three
forms above (`log` and `step` for ranges). Every problem is a `ConfigError` naming the
file and the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from gradlogpi.errors import ConfigError
from gradlogpi.runs.choices import did_you_mean, listed
from gradlogpi.runs.config import legacy_log_std

SETTINGS = {"space": None, "startup_trials": 5, "warmup_evaluations": 1}
"""The keys of `[tune]` and their defaults (`space` is required)."""

FORMS = ("float", "int", "choices")
OPTIONS = ("log", "step")
FIXED_BY_THE_STUDY = ("seed", "runs", "tune")
"""Keys a trial sets itself: seeds come from `--seeds`, one run per seed."""

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Dimension:
    """One searched key: a float or int range (`log`, `step`) or categorical choices."""

    key: str
    kind: Literal["float", "int", "choices"]
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Scalar, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The TOML form, as written in `[tune.space]` (and stored with a study)."""
        if self.kind == "choices":
            return {"choices": list(self.choices)}
        form: dict[str, Any] = {self.kind: [self.low, self.high]}
        if self.log:
            form["log"] = True
        if self.step is not None:
            form["step"] = self.step
        return form

    def candidates(self) -> list[Scalar]:
        """Values that must each make a valid config: both ends, or every choice."""
        if self.kind == "choices":
            return list(self.choices)
        return [self.low, self.high]  # type: ignore[list-item]


@dataclass(frozen=True)
class TuneSettings:
    """A config's `[tune]` table, checked."""

    space: tuple[Dimension, ...]
    startup_trials: int = 5
    warmup_evaluations: int = 1

    def space_dict(self) -> dict[str, dict[str, Any]]:
        return {dimension.key: dimension.as_dict() for dimension in self.space}


def read_tune_table(table: dict[str, Any] | None, source: str) -> TuneSettings:
    """The `[tune]` table of the config read from `source`, checked.

    Raises:
      ConfigError: naming `source` and the key, for a missing table or `space`, an unknown
        key, a range that is empty (low not below high) or not numbers, `log` with a low end
        <= 0, empty or repeated choices, or a key the trial sets itself (seed, runs).
    """
    if not table:
        raise ConfigError(
            f"{source}: no [tune] table; `gradlogpi tune` searches the keys of [tune.space], "
            'e.g. "hyperparameters.alpha_theta" = {float = [1e-4, 1e-1], log = true}'
        )
    unknown = sorted(set(table) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key `tune.{unknown[0]}`{did_you_mean(unknown[0], list(SETTINGS))}"
            f"; [tune] holds {listed(list(SETTINGS))}"
        )
    space = table.get("space")
    if not isinstance(space, dict) or not space:
        raise ConfigError(
            f"{source}: `tune.space` = {space!r}: expected a table of KEY = {{float = [low, "
            "high]}, {int = [low, high]} or {choices = [...]}, with at least one key"
        )
    settings = {}
    for name in ("startup_trials", "warmup_evaluations"):
        value = table.get(name, SETTINGS[name])
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{source}: `tune.{name}` = {value!r}: expected an int >= 0")
        settings[name] = value
    dimensions = tuple(dimension(key, form, source) for key, form in space.items())
    return TuneSettings(dimensions, **settings)


def dimension(key: str, form: Any, source: str) -> Dimension:
    """One `[tune.space]` entry, checked (see `read_tune_table`)."""
    where = f"{source}: `tune.space.{key}`"
    if key.split(".")[0] in FIXED_BY_THE_STUDY:
        raise ConfigError(
            f"{where}: `{key}` is set by each trial itself (seeds from --seeds, one run per "
            "seed); search other keys"
        )
    if not isinstance(form, dict):
        raise ConfigError(
            f"{where} = {form!r}: expected {{float = [low, high]}}, {{int = [low, high]}} or "
            "{choices = [...]}"
        )
    unknown = sorted(set(form) - set(FORMS) - set(OPTIONS))
    if unknown:
        known = [*FORMS, *OPTIONS]
        raise ConfigError(
            f"{where}: unknown key `{unknown[0]}`{did_you_mean(unknown[0], known)}; "
            f"expected one of {listed(list(FORMS))}, with {listed(list(OPTIONS))} for ranges"
        )
    kinds = [kind for kind in FORMS if kind in form]
    if len(kinds) != 1:
        raise ConfigError(
            f"{where}: expected exactly one of {listed(list(FORMS))}; got "
            f"{listed(kinds) if kinds else 'none'}"
        )
    kind = kinds[0]
    if kind == "choices":
        return _choices(key, form, where)
    return _range(key, "int" if kind == "int" else "float", form, where)


def _choices(key: str, form: dict[str, Any], where: str) -> Dimension:
    if set(form) & set(OPTIONS):
        raise ConfigError(f"{where}: `log` and `step` are for ranges, not `choices`")
    choices = form["choices"]
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"{where}: `choices` = {choices!r} is empty; expected a list of values")
    if not all(isinstance(choice, Scalar) for choice in choices):
        raise ConfigError(
            f"{where}: `choices` = {choices!r}: expected strings, numbers or booleans (a "
            "table or a list cannot be a choice)"
        )
    if len({json.dumps(choice) for choice in choices}) != len(choices):
        raise ConfigError(f"{where}: `choices` = {choices!r} repeats a value; each value once")
    if len(choices) < 2:
        raise ConfigError(
            f"{where}: `choices` = {choices!r} leaves nothing to search; set a single value "
            "with --set instead"
        )
    return Dimension(key, "choices", choices=tuple(choices))


def _range(key: str, kind: Literal["float", "int"], form: dict[str, Any], where: str) -> Dimension:
    bounds = form[kind]
    number = int if kind == "int" else (int, float)
    if (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or not all(isinstance(b, number) and not isinstance(b, bool) for b in bounds)
    ):
        expected = "ints" if kind == "int" else "numbers"
        raise ConfigError(f"{where}: `{kind}` = {bounds!r}: expected [low, high], two {expected}")
    low, high = bounds
    if not low < high:
        raise ConfigError(f"{where}: `{kind}` = {bounds!r} is an empty range; expected low < high")
    log = form.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: `log` = {log!r}: expected true or false")
    if log and low <= 0:
        raise ConfigError(f"{where}: `log` = true needs low > 0; got `{kind}` = {bounds!r}")
    step = form.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, number) or step <= 0:
            raise ConfigError(f"{where}: `step` = {step!r}: expected a {kind} > 0")
        if log:
            raise ConfigError(f"{where}: `step` and `log` = true cannot be combined")
    if kind == "float":
        low, high = float(low), float(high)
        step = None if step is None else float(step)
    return Dimension(key, kind, low, high, log, step)


def space_differences(
    stored: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]
) -> list[str]:
    """What changed between two search spaces, one phrase per key ([] when equal)."""
    differences = []
    for key in sorted(set(stored) | set(current)):
        if key not in current:
            differences.append(f"`{key}` was searched ({_words(stored[key])}), now it is not")
        elif key not in stored:
            differences.append(f"`{key}` is new ({_words(current[key])})")
        elif _canonical(stored[key]) != _canonical(current[key]):
            differences.append(f"`{key}` was {_words(stored[key])}, now {_words(current[key])}")
    return differences


def value_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What changed between two flat {dotted key: value} tables, one phrase per key."""
    differences = []
    for key in sorted(set(stored) | set(current)):
        before, after = stored.get(key), current.get(key)
        if _canonical(before) != _canonical(after):
            differences.append(f"`{key}` was {before!r}, now {after!r}")
    return differences


def _canonical(value: Any) -> str:
    """JSON text in which 1 and 1.0 read alike (a value compares by what it means)."""
    return json.dumps(_numbers_alike(value), sort_keys=True, default=str)


def _numbers_alike(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _numbers_alike(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_numbers_alike(item) for item in value]
    return value


def _words(form: dict[str, Any]) -> str:
    kind = next((k for k in FORMS if k in form), "?")
    if kind == "choices":
        return f"choices {form['choices']}"
    low, high = form.get(kind, [None, None])
    options = (" log" if form.get("log") else "") + (
        f" step {form['step']}" if form.get("step") else ""
    )
    return f"{kind} [{low}, {high}]{options}"


def base_settings(definition: dict[str, Any]) -> dict[str, Any]:
    """A study's base config as {dotted key: value}; a neural Gaussian study defined before
    `policy.log_std` existed keeps the bounded log σ its trials trained (`legacy_log_std`)."""
    config = definition["config"]
    return {**flat_config(config), **legacy_log_std(config.get("policy"))}


def flat_config(table: dict[str, Any]) -> dict[str, Any]:
    """A config table as {dotted key: value}, the form `--set` takes (env_kwargs kept whole)."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and key != "env_kwargs":
            for inner, item in value.items():
                flat[f"{key}.{inner}"] = item
        else:
            flat[key] = value
    return flat
