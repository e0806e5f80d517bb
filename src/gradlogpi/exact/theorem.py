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
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gradlogpi.errors import NonTerminatingError
from gradlogpi.exact.mdp import FiniteMDP
from gradlogpi.policies.contract import DiscretePolicy


class ExactGradient(NamedTuple):
    """Everything the theorem needs at one θ (S states, A actions, P parameters)."""

    probabilities: np.ndarray
    """π(a|s), shape [S, A]."""
    values: np.ndarray
    """v_π(s), shape [S] (0 at terminal states)."""
    action_values: np.ndarray
    """q_π(s, a), shape [S, A]."""
    visitation: np.ndarray
    """η(s) = Σ_t γ^t Pr(S_t = s), shape [S] (0 at terminal states)."""
    objective: float
    """J(θ) = Σ_s d0(s) v_π(s)."""
    gradient: np.ndarray
    """∇J(θ) by the policy-gradient theorem, shape [P]."""
    scores: np.ndarray
    """ψ(s, a) = ∇ln π(a|s), shape [S, A, P]."""
    fisher: np.ndarray
    """F = E_{s~μ, a~π}[ψ ψᵀ], shape [P, P]."""
    natural_gradient: np.ndarray
    """F⁺ ∇J (least squares: F is singular for over-parameterised softmax), shape [P]."""


def policy_table(policy: DiscretePolicy, mdp: FiniteMDP) -> np.ndarray:
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


def objective(policy: DiscretePolicy, mdp: FiniteMDP) -> float:
    """J(θ) = Σ_s d0(s) v_π(s)."""
    return float(mdp.start @ state_values(mdp, policy_table(policy, mdp)))


def exact_gradient(policy: DiscretePolicy, mdp: FiniteMDP) -> ExactGradient:
    """v_π, q_π, η, J, ∇J (the theorem), F and F⁺∇J at the policy's current θ.

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
    fisher = np.einsum("sa,sap,saq->pq", mu, scores, scores)
    natural = np.linalg.lstsq(fisher, gradient, rcond=None)[0]
    return ExactGradient(
        probabilities, values, q, visitation, float(mdp.start @ values), gradient, scores,
        fisher, natural,
    )  # fmt: skip
