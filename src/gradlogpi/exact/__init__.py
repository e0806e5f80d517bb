"""The policy-gradient theorem, exactly, for finite MDPs.

From a tabular model (P[s, a, s'], r[s, a], terminal states, start distribution, γ) and a
policy with closed-form probabilities, a few linear solves give v_π, q_π, the discounted
state visitation η_π, J(θ) = Σ_s d0(s) v_π(s), the exact gradient ∇J by the theorem
(Sutton & Barto 2018, eq. 13.5/13.6), the Fisher information and the natural gradient.
Tests and the estimator lab compare every sampled estimator with these numbers.
"""

from gradlogpi.exact.mdp import FiniteMDP, NonTerminatingError, model_of_env
from gradlogpi.exact.theorem import (
    ExactGradient,
    action_values,
    discounted_visitation,
    exact_gradient,
    objective,
    policy_table,
    state_values,
)

__all__ = [
    "ExactGradient",
    "FiniteMDP",
    "NonTerminatingError",
    "action_values",
    "discounted_visitation",
    "exact_gradient",
    "model_of_env",
    "objective",
    "policy_table",
    "state_values",
]
