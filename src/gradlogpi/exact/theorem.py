"""v_π, q_π, η_π, J and ∇J of a finite MDP, by linear solves (never an inverse).

Notation (Sutton & Barto 2018, ch. 13): P_π[s, s'] = Σ_a π(a|s) P[s, a, s'] among
non-terminal states, r_π[s] = Σ_a π(a|s) r[s, a].

    v_π = (I − γ P_π)⁻¹ r_π                    (solved)
    q_π(s, a) = r[s, a] + γ Σ_s' P[s, a, s'] v_π(s')
    η_π = d0ᵀ (I − γ P_π)⁻¹,  η(s) = Σ_t γ^t Pr(S_t = s)   (the discounted visitation)
    J(θ) = Σ_s d0(s) v_π(s)
    ∇J(θ) = Σ_s η(s) Σ_a q_π(s, a) ∇π(a|s) = Σ_s η(s) Σ_a π(a|s) q_π(s, a) ∇ln π(a|s)

The last line is the policy-gradient theorem (eq. 13.5; with γ < 1 the discounted
visitation makes it exact for the discounted objective). The Fisher information is taken
under the normalised visitation μ = η / Σ η: F = Σ_s μ(s) Σ_a π(a|s) ψ ψᵀ.

`exact_gradient` also takes a `LinearQuadraticSystem` (the shipped LQR) and a linear
Gaussian policy, whose J and ∇J are closed forms too (`gradlogpi.exact.lqr`), and returns
the same `ExactGradient`.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from gradlogpi.envs.lqr import LQREnv
from gradlogpi.errors import NonTerminatingError
from gradlogpi.exact.lqr import (
    LinearQuadraticSystem,
    linear_quadratic_gradient,
    linear_quadratic_objective,
    lqr_of_env,
    policy_coordinates,
)
from gradlogpi.exact.mdp import FiniteMDP, model_of_env
from gradlogpi.exact.result import ExactGradient, TheoremTerms
from gradlogpi.policies.contract import DiscretePolicy
from gradlogpi.policies.linear_gaussian import LinearGaussianPolicy

__all__ = [
    "ExactGradient",
    "action_values",
    "discounted_visitation",
    "exact_gradient",
    "model_of",
    "objective",
    "policy_table",
    "state_values",
]

Model = FiniteMDP | LinearQuadraticSystem
"""A task whose J and ∇J are known exactly."""


def policy_table(policy: DiscretePolicy | LinearGaussianPolicy, mdp: FiniteMDP) -> np.ndarray:
    """π(a|s) for every state of `mdp`, shape [S, A]."""
    if not isinstance(policy, DiscretePolicy):
        raise TypeError(
            f"`policy` must give closed-form probabilities (a softmax policy); "
            f"got {type(policy).__name__}"
        )
    assert mdp.observations is not None  # FiniteMDP.__post_init__ fills it in
    probabilities = policy.probabilities(mdp.observations)
    if probabilities.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(
            f"`policy` gives probabilities of shape {probabilities.shape} on the MDP's "
            f"observations; expected [S, A] = [{mdp.n_states}, {mdp.n_actions}]"
        )
    return probabilities


def _system(mdp: FiniteMDP, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(I − γ P_π, r_π) with terminal states absorbing at value 0."""
    live = ~mdp.terminal
    transitions = np.einsum("sa,sat->st", probabilities, mdp.transitions)
    transitions[:, mdp.terminal] = 0.0  # nothing follows a terminal state
    transitions[mdp.terminal] = 0.0
    rewards = (probabilities * mdp.rewards).sum(axis=1) * live
    matrix = np.eye(mdp.n_states) - mdp.gamma * transitions
    if mdp.gamma == 1.0:
        radius = np.abs(np.linalg.eigvals(transitions)).max(initial=0.0)
        if radius > 1.0 - 1e-10:
            raise NonTerminatingError(
                "`gamma` = 1 but under this policy some episodes never end (a set of "
                "non-terminal states is closed): v_π is infinite there; use gamma < 1"
            )
    return matrix, rewards


def state_values(mdp: FiniteMDP, probabilities: np.ndarray) -> np.ndarray:
    """v_π(s), shape [S]: the solution of (I − γ P_π) v = r_π."""
    matrix, rewards = _system(mdp, probabilities)
    return np.linalg.solve(matrix, rewards)


def action_values(mdp: FiniteMDP, values: np.ndarray) -> np.ndarray:
    """q_π(s, a) = r[s, a] + γ Σ_s' P[s, a, s'] v_π(s'), shape [S, A]."""
    following = np.where(mdp.terminal, 0.0, values)
    return mdp.rewards + mdp.gamma * mdp.transitions @ following


def discounted_visitation(mdp: FiniteMDP, probabilities: np.ndarray) -> np.ndarray:
    """η(s) = Σ_t γ^t Pr(S_t = s, not yet terminated), shape [S]: (I − γ P_π)ᵀ η = d0."""
    matrix, _ = _system(mdp, probabilities)
    visitation = np.linalg.solve(matrix.T, mdp.start)
    return np.where(mdp.terminal, 0.0, visitation)


def model_of(env: gym.Env, gamma: float) -> Model:
    """The exact model of an environment: `lqr_of_env` for the LQR, else `model_of_env`."""
    if isinstance(env.unwrapped, LQREnv):
        return lqr_of_env(env, gamma)
    return model_of_env(env, gamma)


def _model(model: Model | gym.Env, gamma: float | None) -> Model:
    if isinstance(model, FiniteMDP | LinearQuadraticSystem):
        if gamma is not None and gamma != model.gamma:
            raise ValueError(
                f"`gamma` = {gamma} differs from the model's γ = {model.gamma}: pass one "
                "(model.with_gamma(gamma) changes a model's discount)"
            )
        return model
    if isinstance(model, gym.Env):
        if gamma is None:
            raise TypeError("`gamma` is needed with an environment (its discount is not in it)")
        return model_of(model, gamma)
    raise TypeError(
        "`model` must be a FiniteMDP, a LinearQuadraticSystem or a Gymnasium environment; "
        f"got {type(model).__name__}"
    )


def objective(
    policy: DiscretePolicy | LinearGaussianPolicy,
    model: Model | gym.Env,
    gamma: float | None = None,
) -> float:
    """J(θ): Σ_s d0(s) v_π(s) on a finite MDP; the forward sum over the horizon on an LQR.

    On an LQR the sum needs no gradient formula and no solver (`linear_quadratic_objective`;
    an infinite horizon is cut where what is left is below 1e-17 of the sum): what finite
    differences of J are taken of.
    """
    model = _model(model, gamma)
    if isinstance(model, LinearQuadraticSystem):
        gain, offset, std, _ = policy_coordinates(policy, model)
        return linear_quadratic_objective(model, gain, offset, std)
    return float(model.start @ state_values(model, policy_table(policy, model)))


def exact_gradient(
    policy: DiscretePolicy | LinearGaussianPolicy,
    model: Model | gym.Env,
    gamma: float | None = None,
) -> ExactGradient:
    """J, ∇J (the theorem), F and F⁺∇J at the policy's current θ.

    Args:
      policy: a softmax policy (closed-form probabilities) for a finite MDP; a
        `LinearGaussianPolicy` over the raw state (`RawState`) for a linear-quadratic system.
      model: a `FiniteMDP`, a `LinearQuadraticSystem`, or an environment whose model is
        known (`model_of`: toy-text, the shipped tabular tasks, the shipped LQR with its
        time limit as the horizon).
      gamma: the discount; needed with an environment.

    Returns:
      `ExactGradient`: J, ∇J [P], F [P, P], F⁺∇J [P], and the terms (a finite MDP's
      tables, `TheoremTerms`, or the LQR's closed form, `LinearQuadraticTerms`).

    Raises:
      TypeError: if the policy does not fit the model, or `gamma` is missing.
      UnstableGainError: an LQR gain whose infinite-horizon cost is infinite.

    Examples:
      >>> import gymnasium as gym
      >>> import gradlogpi.envs
      >>> from gradlogpi.envs import short_corridor_features, theta_for_p_right
      >>> from gradlogpi.policies import LinearSoftmaxPolicy
      >>> from gradlogpi.exact import model_of_env
      >>> corridor = model_of_env(gym.make("gradlogpi/ShortCorridor-v0"), gamma=1.0)
      >>> policy = LinearSoftmaxPolicy(short_corridor_features(), theta_for_p_right(0.5))
      >>> exact = exact_gradient(policy, corridor)
      >>> round(exact.objective, 6)  # v(s0) at π(right) = 1/2, Example 13.1
      -12.0
    """
    model = _model(model, gamma)
    if isinstance(model, LinearQuadraticSystem):
        if not isinstance(policy, LinearGaussianPolicy):
            raise TypeError(
                "`policy` must be a LinearGaussianPolicy for a linear-quadratic system; "
                f"got {type(policy).__name__}"
            )
        return linear_quadratic_gradient(policy, model)
    if not isinstance(policy, DiscretePolicy):
        raise TypeError(
            f"`policy` must give closed-form probabilities (a softmax policy) for a finite "
            f"MDP; got {type(policy).__name__}"
        )
    mdp = model
    probabilities = policy_table(policy, mdp)
    values = state_values(mdp, probabilities)
    q = action_values(mdp, values)
    visitation = discounted_visitation(mdp, probabilities)
    n_states, n_actions = probabilities.shape
    observations = np.repeat(mdp.observations, n_actions, axis=0)  # type: ignore[arg-type]
    actions = np.tile(np.arange(n_actions), n_states)
    scores = policy.score(observations, actions).reshape(n_states, n_actions, -1)
    weights = visitation[:, None] * probabilities  # η(s) π(a|s)
    gradient = np.einsum("sa,sa,sap->p", weights, q, scores)
    mu = weights / max(visitation.sum(), 1e-300)
    flat = scores.reshape(n_states * n_actions, -1)  # [S·A, P]: one matrix product (BLAS)
    fisher = (flat * mu.reshape(-1, 1)).T @ flat  # Σ_sa μ(s,a) ψ ψᵀ; einsum took minutes on Taxi
    natural = np.linalg.lstsq(fisher, gradient, rcond=None)[0]
    terms = TheoremTerms(probabilities, values, q, visitation, scores)
    return ExactGradient(float(mdp.start @ values), gradient, fisher, natural, terms)
