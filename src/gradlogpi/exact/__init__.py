"""The policy-gradient theorem, exactly: finite MDPs and linear-quadratic control.

From a tabular model (P[s, a, s'], r[s, a], terminal states, start distribution, γ) and a
policy with closed-form probabilities, a few linear solves give v_π, q_π, the discounted
state visitation η_π, J(θ) = Σ_s d0(s) v_π(s), the exact gradient ∇J by the theorem
(Sutton & Barto 2018, eq. 13.5/13.6), the Fisher information and the natural gradient.
For a linear Gaussian policy on a linear-quadratic system (the shipped LQR) the same
quantities are closed forms: Lyapunov recursions over the horizon (`gradlogpi.exact.lqr`).
Tests and the estimator lab compare every sampled estimator with these numbers.
"""

from gradlogpi.exact.lqr import (
    LinearQuadraticSystem,
    UnstableGainError,
    gradient_in_theta,
    linear_quadratic_objective,
    linear_quadratic_terms,
    lqr_of_env,
    riccati_optimum,
)
from gradlogpi.exact.mdp import FiniteMDP, NonTerminatingError, model_of_env
from gradlogpi.exact.result import (
    ExactGradient,
    GainGradient,
    LinearQuadraticTerms,
    TheoremTerms,
)
from gradlogpi.exact.theorem import (
    action_values,
    discounted_visitation,
    exact_gradient,
    model_of,
    objective,
    policy_table,
    state_values,
)

__all__ = [
    "ExactGradient",
    "FiniteMDP",
    "GainGradient",
    "LinearQuadraticSystem",
    "LinearQuadraticTerms",
    "NonTerminatingError",
    "TheoremTerms",
    "UnstableGainError",
    "action_values",
    "discounted_visitation",
    "exact_gradient",
    "gradient_in_theta",
    "linear_quadratic_objective",
    "linear_quadratic_terms",
    "lqr_of_env",
    "model_of",
    "model_of_env",
    "objective",
    "policy_table",
    "riccati_optimum",
    "state_values",
]
