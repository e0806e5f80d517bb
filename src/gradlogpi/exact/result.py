"""What `exact_gradient` returns, for a finite MDP and for a linear-quadratic system alike.

J, ∇J, the Fisher information F and the natural gradient F⁻¹∇J are the same four numbers
whatever the task, so every tool that reads an exact gradient (the estimator lab, its
table and figures) works on both; the terms that produced them differ and sit in `terms`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class TheoremTerms(NamedTuple):
    """The policy-gradient theorem's tables on a finite MDP (S states, A actions, P parameters)."""

    probabilities: np.ndarray
    """π(a|s), shape [S, A]."""
    values: np.ndarray
    """v_π(s), shape [S] (0 at terminal states)."""
    action_values: np.ndarray
    """q_π(s, a), shape [S, A]."""
    visitation: np.ndarray
    """η(s) = Σ_t γ^t Pr(S_t = s), shape [S] (0 at terminal states)."""
    scores: np.ndarray
    """ψ(s, a) = ∇ln π(a|s), shape [S, A, P]."""


class GainGradient(NamedTuple):
    """A derivative with respect to the gain K, the offset b and the standard deviation σ."""

    gain: np.ndarray
    """With respect to K, shape [m, n]."""
    offset: np.ndarray
    """With respect to b, shape [m]."""
    std: np.ndarray
    """With respect to σ, shape [m]."""


class LinearQuadraticTerms(NamedTuple):
    """The closed form of a linear-Gaussian policy on a linear-quadratic system.

    n states, m controls, z = [x, 1] the augmented state (n + 1), T the horizon (the
    time axis has one entry, the stationary solution, for an infinite horizon). Costs are
    c = xᵀQx + uᵀRu = −reward; the cost-to-go from step t is zᵀ P̃_t z + c_t, so
    v_t(x) = −(zᵀ P̃_t z + c_t).
    """

    gain: np.ndarray
    """K of u = −K x + b + σ ε, shape [m, n]."""
    offset: np.ndarray
    """b, shape [m]."""
    std: np.ndarray
    """σ, shape [m]."""
    objective: float
    """J(K, b, σ), the expected discounted return over the horizon (−cost)."""
    gradient: GainGradient
    """∂J/∂K, ∂J/∂b, ∂J/∂σ."""
    gradient_without_discounting: GainGradient | None
    """The same sums without γ^t in front of each step, Σ_t E[q_t(x_t, u_t) ∇ln π]: what
    Σ_t G_t ψ_t (REINFORCE without γ^t) estimates. None for an infinite horizon."""
    cost_matrices: np.ndarray
    """P̃_t, t = 0 … T (P̃_T = 0), shape [T + 1, n + 1, n + 1]; [1, n + 1, n + 1] if T = ∞."""
    cost_constants: np.ndarray
    """c_t (the noise's share of the cost-to-go), shape [T + 1] or [1]."""
    second_moment: np.ndarray
    """Σ = Σ_t γ^t E[z_t z_tᵀ], the discounted second moment of z, shape [n + 1, n + 1]."""
    discount_mass: float
    """Σ_t γ^t over the horizon: Σ / discount_mass is the normalised visitation's moment."""
    curvature: np.ndarray
    """Σ_t γ^t H_t with H_t = R + γ BᵀP_{t+1}B (∂²q_t/∂u² / 2), shape [m, m]."""
    spectral_radius: float
    """ρ(A − BK), the closed loop's spectral radius."""
    horizon: int | None
    """T, or None for an infinite horizon."""

    def values(self, x: np.ndarray, t: np.ndarray | int = 0) -> np.ndarray:
        """v_t(x) = −(zᵀ P̃_t z + c_t), shape [...] for x [..., n] and t int [...] (or int).

        For a finite horizon t runs 0 … T (v_T = 0); for an infinite one t is ignored.
        """
        z = np.concatenate([x, np.ones((*x.shape[:-1], 1))], axis=-1)
        index = np.minimum(np.asarray(t), self.cost_matrices.shape[0] - 1)
        matrices = self.cost_matrices[index]
        quadratic = np.einsum("...i,...ij,...j->...", z, matrices, z)
        result: np.ndarray = -(quadratic + self.cost_constants[index])
        return result


class ExactGradient(NamedTuple):
    """J, ∇J, F and F⁻¹∇J at one θ, and the terms they came from.

    `terms` holds a finite MDP's tables (`TheoremTerms`, also read through the properties
    below) or a linear-quadratic system's closed form (`LinearQuadraticTerms`).
    """

    objective: float
    """J(θ): the expected discounted return from the start distribution."""
    gradient: np.ndarray
    """∇J(θ), shape [P]."""
    fisher: np.ndarray
    """F = E_{s~μ, a~π}[ψ ψᵀ] under the normalised discounted visitation μ, shape [P, P]."""
    natural_gradient: np.ndarray
    """F⁺ ∇J (least squares where F is singular, as for an over-parameterised softmax), [P]."""
    terms: TheoremTerms | LinearQuadraticTerms
    """What the four numbers above were computed from."""

    @property
    def probabilities(self) -> np.ndarray:
        """π(a|s), shape [S, A] (finite MDPs only)."""
        return self.theorem_terms().probabilities

    @property
    def values(self) -> np.ndarray:
        """v_π(s), shape [S] (finite MDPs only)."""
        return self.theorem_terms().values

    @property
    def action_values(self) -> np.ndarray:
        """q_π(s, a), shape [S, A] (finite MDPs only)."""
        return self.theorem_terms().action_values

    @property
    def visitation(self) -> np.ndarray:
        """η(s), shape [S] (finite MDPs only)."""
        return self.theorem_terms().visitation

    @property
    def scores(self) -> np.ndarray:
        """ψ(s, a), shape [S, A, P] (finite MDPs only)."""
        return self.theorem_terms().scores

    def theorem_terms(self) -> TheoremTerms:
        """The finite MDP's tables.

        Raises:
          TypeError: for a linear-quadratic system, whose states are not a table.
        """
        if not isinstance(self.terms, TheoremTerms):
            raise TypeError(
                "this exact gradient is of a linear-quadratic system: it has no per-state "
                "tables; read `terms` (LinearQuadraticTerms) instead"
            )
        return self.terms

    def linear_quadratic_terms(self) -> LinearQuadraticTerms:
        """The linear-quadratic closed form.

        Raises:
          TypeError: for a finite MDP.
        """
        if not isinstance(self.terms, LinearQuadraticTerms):
            raise TypeError(
                "this exact gradient is of a finite MDP: read its tables (`probabilities`, "
                "`values`, …), not `linear_quadratic_terms()`"
            )
        return self.terms
