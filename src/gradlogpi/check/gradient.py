"""Gradient checks: analytic scores against central finite differences of log π.

Works with any policy that has `log_prob(obs, a)`, `score(obs, a)` (flat [..., P]),
`get_flat()`/`set_flat()` and `parameter_blocks()`: every policy gradlogpi has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradlogpi.core._checks import check_positive


@dataclass(frozen=True)
class BlockError:
    """Largest errors within one named parameter block."""

    max_abs_error: float
    max_rel_error: float
    n_checked: int


@dataclass(frozen=True)
class GradientCheck:
    """Result of `compare_scores`.

    The relative error of one entry is |analytic − numeric| / max(|analytic|, |numeric|),
    taken as 0 where both are below `floor` (both essentially zero).
    """

    max_abs_error: float
    max_rel_error: float
    blocks: dict[str, BlockError] = field(default_factory=dict)
    analytic: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    numeric: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    def passed(self, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
        """Whether every entry satisfies |analytic − numeric| <= atol + rtol·|numeric|."""
        return bool(
            np.all(np.abs(self.analytic - self.numeric) <= atol + rtol * np.abs(self.numeric))
        )


def finite_difference(
    policy: Any,
    function: Callable[[], np.ndarray],
    *,
    epsilon: float = 1e-6,
    parameters: np.ndarray | None = None,
) -> np.ndarray:
    """Central differences (f(θ + εe_i) − f(θ − εe_i)) / 2ε of f() for each parameter i.

    `function` evaluates the policy at its current parameters; θ is restored afterwards.

    Args:
      policy: any gradlogpi policy (flat parameters of shape [P]).
      function: returns an array of shape [...] computed from the policy.
      epsilon: step ε > 0.
      parameters: which flat indices to perturb, shape [p]; all P if omitted.

    Returns:
      float64 array, shape [..., p].
    """
    epsilon = check_positive("epsilon", epsilon)
    theta = policy.get_flat()
    if theta.ndim != 1:
        raise ValueError(f"gradient checks need θ of shape [P]; got {theta.shape}")
    indices = np.arange(theta.shape[0]) if parameters is None else np.asarray(parameters)
    columns = []
    try:
        for i in indices:
            shifted = theta.copy()
            shifted[i] += epsilon
            policy.set_flat(shifted)
            upper = np.asarray(function(), dtype=np.float64)
            shifted[i] = theta[i] - epsilon
            policy.set_flat(shifted)
            lower = np.asarray(function(), dtype=np.float64)
            columns.append((upper - lower) / (2 * epsilon))
    finally:
        policy.set_flat(theta)
    return np.stack(columns, axis=-1)


def finite_difference_score(
    policy: Any, obs: Any, a: Any, *, epsilon: float = 1e-6, parameters: np.ndarray | None = None
) -> np.ndarray:
    """∇θ log π(a|s) by central differences, shape [..., P] (or [..., p] for a subset)."""
    return finite_difference(
        policy, lambda: policy.log_prob(obs, a), epsilon=epsilon, parameters=parameters
    )


def likelihood_ratio_score(policy: Any, obs: Any, a: Any, *, epsilon: float = 1e-6) -> np.ndarray:
    """∇θ π(a|s) / π(a|s) with ∇π by central differences: the likelihood-ratio identity.

    Equals the score ∇θ log π(a|s) (seed 000's comment), shape [..., P].
    """
    probability = np.exp(policy.log_prob(obs, a))
    gradient = finite_difference(policy, lambda: np.exp(policy.log_prob(obs, a)), epsilon=epsilon)
    return gradient / probability[..., None]


def compare_scores(
    policy: Any,
    obs: Any,
    a: Any,
    *,
    epsilon: float = 1e-6,
    floor: float = 1e-7,
    max_parameters: int = 2000,
    rng: np.random.Generator | None = None,
) -> GradientCheck:
    """Compare `policy.score(obs, a)` with central finite differences of `policy.log_prob`.

    Large parameter vectors are checked on at most `max_parameters` parameters: those
    where the analytic score is non-zero (all of them for a tile coder's few active
    tiles; for a network's dense score a sample in which every parameter block has its
    share, so the output layer and σ are checked too) plus a random sample of the others.

    Args:
      policy: any gradlogpi policy with flat parameters of shape [P].
      obs: observations, shape [..., *observation_shape].
      a: actions, shape [...] (discrete) or [..., m] (continuous).
      epsilon: finite-difference step.
      floor: magnitude below which both values count as zero for the relative error.
      max_parameters: most parameters to perturb.
      rng: generator for the sample of parameters (default seed 0).

    Returns:
      GradientCheck with the max absolute and relative error, overall and per block.
    """
    analytic_full = np.asarray(policy.score(obs, a), dtype=np.float64)
    n_parameters = analytic_full.shape[-1]
    parameters = np.arange(n_parameters)
    if n_parameters > max_parameters:
        rng = np.random.default_rng(0) if rng is None else rng
        support = np.flatnonzero(np.any(analytic_full.reshape(-1, n_parameters) != 0, axis=0))
        if support.size > max_parameters:
            support = spread_sample(support, policy.parameter_blocks(), max_parameters, rng)
        others = np.setdiff1d(parameters, support)
        room = max(max_parameters - support.size, 0)
        sample = rng.choice(others, size=min(room, others.size), replace=False)
        parameters = np.sort(np.concatenate([support, sample]))
    numeric = finite_difference_score(policy, obs, a, epsilon=epsilon, parameters=parameters)
    analytic = analytic_full[..., parameters]
    absolute = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    relative = np.where(scale > floor, absolute / np.where(scale > floor, scale, 1.0), 0.0)
    blocks = {}
    for name, block in policy.parameter_blocks().items():
        selected = np.isin(parameters, block)
        if selected.any():
            blocks[name] = BlockError(
                float(absolute[..., selected].max()),
                float(relative[..., selected].max()),
                int(selected.sum()),
            )
    return GradientCheck(
        float(absolute.max(initial=0.0)),
        float(relative.max(initial=0.0)),
        blocks,
        analytic,
        numeric,
    )


def spread_sample(
    candidates: np.ndarray, blocks: dict[str, np.ndarray], limit: int, rng: np.random.Generator
) -> np.ndarray:
    """At most `limit` of the parameter indices `candidates`, sorted: each of the `blocks`
    (name → indices) gets an equal share first (a smaller block whole), the room left over
    goes to a random sample of the rest."""
    share = limit // max(len(blocks), 1)
    chosen = [np.empty(0, dtype=np.int64)]
    for block in blocks.values():
        mine = np.intersect1d(candidates, block)
        chosen.append(mine if mine.size <= share else rng.choice(mine, share, replace=False))
    picked = np.unique(np.concatenate(chosen))
    rest = np.setdiff1d(candidates, picked)
    room = min(limit - picked.size, rest.size)
    return np.sort(np.concatenate([picked, rng.choice(rest, room, replace=False)]))
