"""`gradlogpi explain`: the softmax score worked out step by step, as in the seed answer."""

from __future__ import annotations

import numpy as np

from gradlogpi.core import (
    action_block_features,
    expected_features,
    linear_preferences,
    linear_softmax_score,
    matrix_softmax_score,
    softmax,
)


def _vector(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in np.asarray(values, dtype=float) + 0.0) + ")"


def explain_linear(phi: np.ndarray, theta: np.ndarray, title: str) -> list[str]:
    """Lines explaining π, E_π[φ] and every action's score for φ(s,·) [A, d] and θ [d]."""
    probabilities = softmax(linear_preferences(theta, phi))
    mean = expected_features(theta, phi)
    lines = [title, f"θ = {_vector(theta)}"]
    for a, row in enumerate(phi):
        lines.append(
            f"  φ(s,a{a}) = {_vector(row)}   h = θᵀφ = {float(theta @ row):.4g}   π(a{a}|s) = {probabilities[a]:.4g}"
        )
    terms = " + ".join(f"{probabilities[a]:.4g}·{_vector(row)}" for a, row in enumerate(phi))
    lines.append(f"E_π[φ(s,·)] = Σ_a' π(a'|s) φ(s,a') = {terms} = {_vector(mean)}")
    for a in range(phi.shape[0]):
        score = linear_softmax_score(theta, phi, a)
        lines.append(
            f"∇θ log π(a{a}|s) = φ(s,a{a}) − E_π[φ(s,·)] = {_vector(phi[a])} − {_vector(mean)} = {_vector(np.round(score, 12))}"
        )
    return lines


def explain_seed() -> str:
    """Seed 000's worked example, then the same policy family in matrix form."""
    phi = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    theta = np.array([0.0, 0.0, np.log(0.3 / 0.7)])
    lines = explain_linear(
        phi, theta, "Seed example: s = (1, 1), φ(s,a) = [s, a] (stacked), π = (0.7, 0.3)"
    )
    lines.append("")
    x = np.array([1.0, 1.0])
    weights = np.array([[0.0, 0.0], [0.0, 0.0]])
    bias = np.array([0.0, np.log(0.3 / 0.7)])
    grad_weights, grad_bias = matrix_softmax_score(weights, bias, x, 0)
    lines.append("Matrix form: logits = W x(s) + b with x(s) = (1, 1), W = 0, b = (0, log(3/7)):")
    lines.append(f"  π = softmax(W x + b) = {_vector(softmax(weights @ x + bias))}")
    lines.append(f"  ∇_b log π(a0|s) = onehot(a0) − π = {_vector(grad_bias)}")
    lines.append(
        f"  ∇_W log π(a0|s) = (onehot(a0) − π) x(s)ᵀ = {', '.join(_vector(r) for r in grad_weights)} (rows)"
    )
    bridged = action_block_features(x, 2)
    flat = np.concatenate([weights, bias[:, None]], axis=1).ravel()
    lines.append(
        f"  the same as the linear form with φ(s,a) = onehot(a) ⊗ [x, 1] = {', '.join(_vector(r) for r in bridged)} (a0, a1):"
    )
    lines.append(f"  φ(s,a0) − E_π[φ(s,·)] = {_vector(linear_softmax_score(flat, bridged, 0))}")
    lines.append(
        "  (with stacked features the state part cancels, so that policy cannot depend on s;"
    )
    lines.append("   with the one-hot action block it can.)")
    return "\n".join(lines)


def explain_environment(env_id: str, features_kind: str, seed: int) -> str:
    """One state of `env_id`, φ from `features_kind` through the action block, random θ."""
    from gradlogpi.runs.build import build_policy, make_config_env
    from gradlogpi.runs.checking import sample_states
    from gradlogpi.runs.config import load_config

    config = load_config(
        None, {"env": env_id, "policy.kind": "linear_softmax", "features.kind": features_kind}
    )
    env = make_config_env(config)
    policy = build_policy(config, env)
    rng = np.random.default_rng(seed)
    theta = 0.5 * rng.standard_normal(policy.n_parameters)
    state = sample_states(env, 1, rng)[0]
    phi = policy.features(state)  # type: ignore[attr-defined]
    lines = explain_linear(
        phi,
        theta,
        f"{env_id}, state s = {_vector(np.atleast_1d(state))}, features {features_kind} (action block)",
    )
    return "\n".join(lines)
