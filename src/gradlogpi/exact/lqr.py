"""The exact policy gradient of a linear-Gaussian policy on a linear-quadratic system.

System (n states, m controls) and policy:

    x_{t+1} = A x_t + B u_t + w_t,     w_t ~ N(0, Ψ)
    u_t = −K x_t + b + σ ⊙ ε_t,        ε_t ~ N(0, I_m)
    r_{t+1} = −(x_tᵀ Q x_t + u_tᵀ R u_t)
    J(K, b, σ) = E[Σ_{t<T} γ^t r_{t+1}],   x_0 with mean m₀ and covariance Σ₀

over the horizon T (the environment's time limit; T = ∞ needs γ < 1). Writing
z = [x, 1] makes the offset part of the gain: u = F z + σε with F = [−K, b], and the
closed loop is z' = Ã z + noise with Ã = [[A − BK, Bb], [0, 1]]. Then, with costs c = −r
(Fazel et al. 2018, "Global convergence of policy gradient methods for the linear quadratic
regulator", Lemma 1, here with a discount, an offset and exploration noise):

    P̃_t = Q̃ + γ Ãᵀ P̃_{t+1} Ã,  P̃_T = 0     Q̃ = diag(Q, 0) + Fᵀ R F    (the cost-to-go zᵀP̃_t z + c_t)
    Z_{t+1} = Ã Z_t Ãᵀ + N,                 N = diag(B diag(σ²) Bᵀ + Ψ, 0), Z_0 = E[z_0 z_0ᵀ]
    H_t = R + γ B̂ᵀ P̃_{t+1} B̂,  E_t = H_t F + γ B̂ᵀ P̃_{t+1} Â      (B̂ = [B; 0], Â = diag(A, 1))
    ∂J/∂F = −2 Σ_t γ^t E_t Z_t,     ∂J/∂σ = −2 σ ⊙ diag(Σ_t γ^t H_t)

The first is the policy-gradient theorem with Stein's lemma: E_u[ψ_μ q_t(x, u)] = E_u[∂q_t/∂u]
and ∂q_t/∂u = 2 E_t z is linear in u; the second its second-order twin,
∂E_u[q_t]/∂σ_i = σ_i E[∂²q_t/∂u_i²]. For T = ∞ both recursions are discrete Lyapunov
equations, P̃ = Q̃ + γ ÃᵀP̃Ã and Σ = Z_0 + γ ÃΣÃᵀ + γ/(1 − γ) N (Σ = Σ_t γ^t Z_t), solved by
SciPy; they have a solution exactly when √γ ρ(A − BK) < 1. The finite-horizon recursion is
the same sum cut at T, and tends to it as T grows.

The Fisher information of the Gaussian policy under the normalised discounted visitation
is block-diagonal: diag(1/σ²) ⊗ Σ/Σ_t γ^t for F (row by row) and 2 for each ln σ.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, NamedTuple

import gymnasium as gym
import numpy as np

from gradlogpi.envs.lqr import LQREnv
from gradlogpi.errors import GradlogpiError, ShapeError
from gradlogpi.exact.result import ExactGradient, GainGradient, LinearQuadraticTerms
from gradlogpi.features import RawState
from gradlogpi.policies.linear_gaussian import LinearGaussianPolicy, bounded_log_std

__all__ = [
    "GainGradient",
    "LinearQuadraticSystem",
    "PolicyCoordinates",
    "UnstableGainError",
    "gradient_in_theta",
    "linear_quadratic_gradient",
    "linear_quadratic_objective",
    "linear_quadratic_terms",
    "lqr_of_env",
    "policy_coordinates",
    "riccati_optimum",
]


class UnstableGainError(GradlogpiError, ValueError):
    """K does not stabilise the system: over an infinite horizon the discounted cost is infinite."""


@dataclass(frozen=True)
class LinearQuadraticSystem:
    """x' = A x + B u + w, reward −(xᵀQx + uᵀRu), discount γ, over T steps from x_0 ~ (m₀, Σ₀).

    Attributes:
      a: A, shape [n, n].
      b: B, shape [n, m].
      q: Q, symmetric positive semi-definite, shape [n, n].
      r: R, symmetric positive definite, shape [m, m].
      gamma: γ in [0, 1].
      horizon: T >= 1 steps (a time limit), or None for an infinite horizon (needs γ < 1:
        the exploration noise costs tr(R diag σ²) every step, forever).
      initial_mean: m₀ = E[x_0], shape [n] (default 0).
      initial_covariance: Σ₀ = Cov[x_0], positive semi-definite, shape [n, n] (default 0).
      noise_covariance: Ψ = Cov[w], positive semi-definite, shape [n, n] (default 0).
      initial_distribution: how x_0 is drawn when episodes are sampled: "normal"
        N(m₀, Σ₀), or "uniform", each component uniform on m₀ ± √(3 Σ₀_ii) (Σ₀ diagonal;
        the shipped LQR's reset). J and ∇J depend on m₀ and Σ₀ alone.
    """

    a: np.ndarray
    b: np.ndarray
    q: np.ndarray
    r: np.ndarray
    gamma: float
    horizon: int | None
    initial_mean: np.ndarray | None = None
    initial_covariance: np.ndarray | None = None
    noise_covariance: np.ndarray | None = None
    initial_distribution: Literal["normal", "uniform"] = "normal"

    def __post_init__(self) -> None:
        b = np.atleast_2d(np.asarray(self.b, dtype=np.float64))
        if b.ndim != 2:
            raise ShapeError(f"`b` must have shape [n, m]; got {b.shape}")
        n, m = b.shape
        square = {"a": n, "q": n, "r": m, "initial_covariance": n, "noise_covariance": n}
        values: dict[str, np.ndarray] = {"b": b}
        for name, size in square.items():
            given = getattr(self, name)
            matrix = np.zeros((size, size)) if given is None else np.asarray(given, np.float64)
            matrix = np.atleast_2d(matrix)
            if matrix.shape != (size, size):
                raise ShapeError(
                    f"`{name}` must have shape {(size, size)} (n={n}, m={m} from `b` of shape "
                    f"{b.shape}); got {matrix.shape}"
                )
            values[name] = matrix
        for name in ("q", "r", "initial_covariance", "noise_covariance"):
            matrix = values[name]
            if not np.allclose(matrix, matrix.T, rtol=1e-12, atol=1e-14):
                raise ValueError(f"`{name}` must be symmetric; got {matrix.tolist()}")
            lowest = float(np.linalg.eigvalsh(matrix).min())
            if lowest < -1e-12 * max(1.0, float(np.abs(matrix).max())):
                raise ValueError(
                    f"`{name}` must be positive semi-definite; its smallest eigenvalue is {lowest:.3g}"
                )
        if float(np.linalg.eigvalsh(values["r"]).min()) <= 0:
            raise ValueError("`r` must be positive definite (every control must cost something)")
        mean = np.zeros(n) if self.initial_mean is None else np.asarray(self.initial_mean, float)
        if mean.shape != (n,):
            raise ShapeError(f"`initial_mean` must have shape {(n,)}; got {mean.shape}")
        values["initial_mean"] = mean
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"`gamma` must be in [0, 1]; got {self.gamma!r}")
        if self.horizon is None:
            if self.gamma >= 1.0:
                raise ValueError(
                    "`horizon` = None (infinite) needs `gamma` < 1: the exploration noise costs "
                    "tr(R σ²) every step, so the undiscounted cost is infinite; got gamma = 1.0"
                )
        elif isinstance(self.horizon, bool) or not isinstance(self.horizon, int | np.integer):
            raise TypeError(f"`horizon` must be an int or None; got {self.horizon!r}")
        elif self.horizon < 1:
            raise ValueError(f"`horizon` must be >= 1; got {self.horizon}")
        if self.initial_distribution not in ("normal", "uniform"):
            raise ValueError(
                "`initial_distribution` must be 'normal' or 'uniform'; got "
                f"{self.initial_distribution!r}"
            )
        covariance = values["initial_covariance"]
        if self.initial_distribution == "uniform" and np.any(
            covariance != np.diag(np.diag(covariance))
        ):
            raise ValueError(
                "`initial_distribution` = 'uniform' draws independent components: "
                "`initial_covariance` must be diagonal"
            )
        for name, value in values.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "gamma", float(self.gamma))
        if self.horizon is not None:
            object.__setattr__(self, "horizon", int(self.horizon))

    @property
    def n_states(self) -> int:
        """n, the state's dimension."""
        return int(self.a.shape[0])

    @property
    def n_controls(self) -> int:
        """m, the control's dimension."""
        return int(self.b.shape[1])

    def with_horizon(self, horizon: int | None) -> LinearQuadraticSystem:
        """The same system over another horizon."""
        return dataclasses.replace(self, horizon=horizon)

    def with_gamma(self, gamma: float) -> LinearQuadraticSystem:
        """The same system with another discount."""
        return dataclasses.replace(self, gamma=gamma)


def lqr_of_env(env: gym.Env, gamma: float) -> LinearQuadraticSystem:
    """The `LinearQuadraticSystem` of the shipped `gradlogpi/LQR-v0` environment.

    A, B, Q, R are the environment's; x_0 is uniform in [−c, c]^n (c = initial_range), so
    m₀ = 0 and Σ₀ = c²/3 I; there is no process noise; T is the environment's time limit
    (50 steps as registered; None, an infinite horizon, if it has none).

    Raises:
      ValueError: naming the environment, if it is not an LQR.
    """
    inner = env.unwrapped
    if not isinstance(inner, LQREnv):
        name = env.spec.id if env.spec is not None else type(inner).__name__
        raise ValueError(
            f"`env` {name!r} is not a linear-quadratic system: exact Gaussian-policy gradients "
            "need gradlogpi/LQR-v0"
        )
    model = inner.batch_model()
    n = model.a.shape[0]
    horizon = env.spec.max_episode_steps if env.spec is not None else None
    return LinearQuadraticSystem(
        model.a, model.b, model.q, model.r, gamma, horizon,
        initial_covariance=np.eye(n) * model.initial_range**2 / 3.0,
        initial_distribution="uniform",
    )  # fmt: skip


class _ClosedLoop(NamedTuple):
    """The augmented closed loop of one (K, b, σ): every matrix is [n + 1, n + 1] but f, noise."""

    a_hat: np.ndarray  # diag(A, 1)
    b_hat: np.ndarray  # [B; 0], [n + 1, m]
    f: np.ndarray  # [−K, b], [m, n + 1]
    a_cl: np.ndarray  # Â + B̂ F
    q_cl: np.ndarray  # diag(Q, 0) + Fᵀ R F
    noise: np.ndarray  # diag(B diag(σ²) Bᵀ + Ψ, 0)
    z0: np.ndarray  # E[z_0 z_0ᵀ]
    std: np.ndarray  # σ, [m]
    control_noise_cost: float  # tr(R diag(σ²))
    radius: float  # ρ(A − BK)


def _closed_loop(
    system: LinearQuadraticSystem, gain: np.ndarray, offset: np.ndarray, std: np.ndarray
) -> _ClosedLoop:
    n, m = system.n_states, system.n_controls
    a_hat = np.zeros((n + 1, n + 1))
    a_hat[:n, :n], a_hat[n, n] = system.a, 1.0
    b_hat = np.vstack([system.b, np.zeros((1, m))])
    f = np.hstack([-gain, offset[:, None]])
    a_cl = a_hat + b_hat @ f
    q_cl = np.zeros((n + 1, n + 1))
    q_cl[:n, :n] = system.q
    q_cl = q_cl + f.T @ system.r @ f
    noise = np.zeros((n + 1, n + 1))
    assert system.noise_covariance is not None and system.initial_covariance is not None
    assert system.initial_mean is not None  # LinearQuadraticSystem.__post_init__ fills them in
    noise[:n, :n] = (system.b * std**2) @ system.b.T + system.noise_covariance
    mean = system.initial_mean
    z0 = np.ones((n + 1, n + 1))
    z0[:n, :n] = system.initial_covariance + np.outer(mean, mean)
    z0[:n, n] = z0[n, :n] = mean
    radius = float(np.abs(np.linalg.eigvals(system.a - system.b @ gain)).max())
    control_noise_cost = float(np.sum(np.diag(system.r) * std**2))
    return _ClosedLoop(a_hat, b_hat, f, a_cl, q_cl, noise, z0, std, control_noise_cost, radius)


def _checked_policy_arrays(
    system: LinearQuadraticSystem, gain: object, offset: object, std: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, m = system.n_states, system.n_controls
    gain = np.atleast_2d(np.asarray(gain, dtype=np.float64))
    if gain.shape != (m, n):
        raise ShapeError(f"`gain` K must have shape [m, n] = {(m, n)}; got {gain.shape}")
    offset = np.zeros(m) if offset is None else np.asarray(offset, dtype=np.float64).reshape(-1)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    for name, array in (("offset", offset), ("std", std)):
        if array.shape != (m,):
            raise ShapeError(f"`{name}` must have shape [m] = {(m,)}; got {array.shape}")
    if not np.all(std > 0):
        raise ValueError(f"`std` σ must be > 0 in every control dimension; got {std.tolist()}")
    for name, array in (("gain", gain), ("offset", offset), ("std", std)):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"`{name}` must be finite; got {array.tolist()}")
    return gain, offset, std


def _unstable(gain: np.ndarray, radius: float, gamma: float, what: str) -> UnstableGainError:
    limit = 1.0 / np.sqrt(gamma) if gamma > 0 else np.inf
    return UnstableGainError(
        f"`gain` K = {np.array2string(gain, precision=4)} does not stabilise the system at "
        f"γ = {gamma}: the spectral radius of A − BK is {radius:.6g}, and {what} needs it "
        f"below 1/√γ = {limit:.6g}"
    )


def _finite_horizon(
    system: LinearQuadraticSystem, loop: _ClosedLoop, horizon: int
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(P̃_t [T + 1, n + 1, n + 1], c_t [T + 1], Z_t for t < T) by the two recursions."""
    size, gamma = loop.a_cl.shape[0], system.gamma
    matrices = np.zeros((horizon + 1, size, size))
    constants = np.zeros(horizon + 1)
    for t in range(horizon - 1, -1, -1):
        following = matrices[t + 1]
        current = loop.q_cl + gamma * loop.a_cl.T @ following @ loop.a_cl
        matrices[t] = 0.5 * (current + current.T)
        constants[t] = loop.control_noise_cost + gamma * (
            float(np.sum(following * loop.noise)) + constants[t + 1]
        )
    moments = [loop.z0]
    for _ in range(horizon - 1):
        moment = loop.a_cl @ moments[-1] @ loop.a_cl.T + loop.noise
        moments.append(0.5 * (moment + moment.T))
    return matrices, constants, moments


def _stationary(
    system: LinearQuadraticSystem, loop: _ClosedLoop
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P̃ [1, n + 1, n + 1], c [1], Σ) of an infinite horizon: two Lyapunov equations."""
    from scipy.linalg import solve_discrete_lyapunov

    gamma = system.gamma
    root = np.sqrt(gamma)
    # X = a X aᵀ + q: P̃ = γ ÃᵀP̃Ã + Q̃ and Σ = γ ÃΣÃᵀ + Z_0 + γ/(1 − γ) N
    matrix = solve_discrete_lyapunov(root * loop.a_cl.T, loop.q_cl)
    moment = solve_discrete_lyapunov(root * loop.a_cl, loop.z0 + gamma / (1.0 - gamma) * loop.noise)
    matrix, moment = 0.5 * (matrix + matrix.T), 0.5 * (moment + moment.T)
    constant = (loop.control_noise_cost + gamma * float(np.sum(matrix * loop.noise))) / (
        1.0 - gamma
    )
    return matrix[None], np.array([constant]), moment


def linear_quadratic_terms(
    system: LinearQuadraticSystem, gain: object, offset: object = None, std: object = 1.0
) -> LinearQuadraticTerms:
    """J's closed form at u = −K x + b + σε: cost-to-go, visitation, ∂J/∂K, ∂J/∂b, ∂J/∂σ.

    The recursions of the module docstring over the system's horizon T; for T = ∞ two
    discrete Lyapunov equations (SciPy's `solve_discrete_lyapunov`), for a finite T the
    same sums cut at T (a time limit: nothing after step T counts, v_T = 0).

    Args:
      system: the `LinearQuadraticSystem` (n states, m controls, horizon T).
      gain: K, shape [m, n].
      offset: b, shape [m] (default 0).
      std: σ > 0, shape [m] (or a scalar for m = 1).

    Returns:
      `LinearQuadraticTerms`.

    Raises:
      UnstableGainError: over an infinite horizon, if √γ ρ(A − BK) >= 1 (the discounted
        cost is infinite); over a finite one, if the cost overflows float64.
      ShapeError: if K, b or σ have the wrong shape.

    Examples:
      >>> system = LinearQuadraticSystem([[1.0]], [[1.0]], [[1.0]], [[1.0]], 0.9, None,
      ...                                initial_covariance=[[1.0]])
      >>> terms = linear_quadratic_terms(system, gain=[[0.5]], std=[0.1])
      >>> round(float(terms.gradient.gain[0, 0]), 6)  # > 0: raising K towards K* = 0.5884 helps
      0.635172
    """
    gain, offset, std = _checked_policy_arrays(system, gain, offset, std)
    loop = _closed_loop(system, gain, offset, std)
    gamma, n, horizon = system.gamma, system.n_states, system.horizon
    if horizon is None and np.sqrt(gamma) * loop.radius >= 1.0:
        raise _unstable(
            gain, loop.radius, gamma, "a finite discounted cost over an infinite horizon"
        )
    r, a_hat, b_hat, f = system.r, loop.a_hat, loop.b_hat, loop.f

    def step_terms(following: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """H_t = R + γ B̂ᵀP̃_{t+1}B̂ [m, m] and E_t = H_t F + γ B̂ᵀP̃_{t+1}Â [m, n + 1]."""
        h = r + gamma * b_hat.T @ following @ b_hat
        return h, h @ f + gamma * b_hat.T @ following @ a_hat

    with np.errstate(over="ignore", invalid="ignore"):
        undiscounted: GainGradient | None = None
        if horizon is None:
            matrices, constants, second_moment = _stationary(system, loop)
            h, e = step_terms(matrices[0])
            mass = 1.0 / (1.0 - gamma)
            curvature, weighted = mass * h, e @ second_moment
        else:
            matrices, constants, moments = _finite_horizon(system, loop, horizon)
            second_moment, curvature = np.zeros_like(loop.z0), np.zeros_like(r)
            weighted, plain, plain_curvature = np.zeros_like(f), np.zeros_like(f), np.zeros_like(r)
            weight = 1.0
            for t, moment in enumerate(moments):
                h, e = step_terms(matrices[t + 1])
                second_moment += weight * moment
                curvature += weight * h
                weighted += weight * (e @ moment)
                plain += e @ moment
                plain_curvature += h
                weight *= gamma
            mass = float(np.sum(gamma ** np.arange(horizon)))
            undiscounted = _gain_gradient(plain, plain_curvature, std, n)
        objective = -(float(np.sum(matrices[0] * loop.z0)) + float(constants[0]))
        if not all(np.all(np.isfinite(v)) for v in (objective, matrices, second_moment, weighted)):
            raise _unstable(gain, loop.radius, gamma, f"a {horizon}-step cost within float64")
    return LinearQuadraticTerms(
        gain, offset, std, objective,
        gradient=_gain_gradient(weighted, curvature, std, n),
        gradient_without_discounting=undiscounted,
        cost_matrices=matrices,
        cost_constants=constants,
        second_moment=second_moment,
        discount_mass=mass,
        curvature=curvature,
        spectral_radius=loop.radius,
        horizon=horizon,
    )  # fmt: skip


def _gain_gradient(
    weighted: np.ndarray, curvature: np.ndarray, std: np.ndarray, n: int
) -> GainGradient:
    """∂J from Σ_t w_t E_t Z_t [m, n + 1] and Σ_t w_t H_t [m, m] (J = −cost, F = [−K, b])."""
    gradient_f = -2.0 * weighted
    return GainGradient(-gradient_f[:, :n], gradient_f[:, n], -2.0 * std * np.diag(curvature))


def linear_quadratic_objective(
    system: LinearQuadraticSystem, gain: object, offset: object = None, std: object = 1.0
) -> float:
    """J(K, b, σ) = −Σ_{t<T} γ^t (tr(Q̃ Z_t) + tr(R σ²)) by the forward recursion alone.

    No cost-to-go, no gradient formula and no solver: the reference the closed-form
    gradient is checked against by finite differences. An infinite horizon is cut at the
    first T with max(γ, γ ρ(A − BK)²)^T < 1e-17 (at most 10⁶ steps): the terms left out
    shrink geometrically from below 1e-17 of the first.

    Raises:
      UnstableGainError: an infinite horizon with √γ ρ(A − BK) >= 1.
    """
    gain, offset, std = _checked_policy_arrays(system, gain, offset, std)
    loop = _closed_loop(system, gain, offset, std)
    horizon = system.horizon
    if horizon is None:
        rate = max(system.gamma, system.gamma * loop.radius**2)
        if rate >= 1.0:
            raise _unstable(gain, loop.radius, system.gamma, "an infinite horizon's sum")
        horizon = min(10**6, int(np.ceil(np.log(1e-17) / np.log(max(rate, 1e-300)))) + 1)
    total, weight, moment = 0.0, 1.0, loop.z0
    for _ in range(horizon):
        total += weight * (float(np.sum(loop.q_cl * moment)) + loop.control_noise_cost)
        moment = loop.a_cl @ moment @ loop.a_cl.T + loop.noise
        weight *= system.gamma
    return -total


def riccati_optimum(system: LinearQuadraticSystem) -> tuple[np.ndarray, np.ndarray]:
    """The optimal gain K* [m, n] and cost matrix P* [n, n] of the discounted, infinite-horizon LQR.

    P* solves the discounted algebraic Riccati equation
    P = Q + γ AᵀPA − γ² AᵀPB (R + γ BᵀPB)⁻¹ BᵀPA (SciPy's `solve_discrete_are` on √γ A,
    √γ B), and K* = γ (R + γ BᵀPB)⁻¹ BᵀPA. Exploration noise does not change K*
    (certainty equivalence), so it is the best mean gain of a Gaussian policy for every σ,
    and ∇_K J(K*) = 0 over an infinite horizon. Over a finite horizon the optimal control
    is time-varying; K* is its limit far from the end.

    Raises:
      ValueError: if the Riccati equation has no stabilising solution ((√γ A, √γ B) not
        stabilisable).
    """
    from scipy.linalg import solve_discrete_are

    root = np.sqrt(system.gamma)
    try:
        p = solve_discrete_are(root * system.a, root * system.b, system.q, system.r)
    except (ValueError, np.linalg.LinAlgError) as error:
        raise ValueError(
            f"the discounted Riccati equation of `system` has no stabilising solution "
            f"((√γ A, √γ B) is not stabilisable?): {error}"
        ) from None
    p = 0.5 * (p + p.T)
    gain = system.gamma * np.linalg.solve(
        system.r + system.gamma * system.b.T @ p @ system.b, system.b.T @ p @ system.a
    )
    return gain, p


# --- the library's LinearGaussianPolicy in these coordinates -----------------------------------


class PolicyCoordinates(NamedTuple):
    """A linear Gaussian policy's u = −K x + b + σ ε."""

    gain: np.ndarray  # K = −W, [m, n]
    offset: np.ndarray  # b, [m]
    std: np.ndarray  # σ, [m]
    log_std_slope: np.ndarray | None  # d ln σ / dη [m] where θ holds η; None if σ is fixed


def policy_coordinates(policy: object, system: LinearQuadraticSystem) -> PolicyCoordinates:
    """K [m, n], b [m], σ [m] (and d ln σ/dη [m] where θ holds η) of a linear Gaussian policy.

    Raises:
      TypeError: if `policy` is not a LinearGaussianPolicy.
      ValueError: if it does not act on the raw state (RawState(n)), or σ depends on x.
      ShapeError: if its action dimension is not m, or it holds several runs' θ.
    """
    if not isinstance(policy, LinearGaussianPolicy):
        raise TypeError(
            f"`policy` must be a LinearGaussianPolicy for a linear-quadratic system; "
            f"got {type(policy).__name__}"
        )
    n, m = system.n_states, system.n_controls
    features = policy.state_features
    if not isinstance(features, RawState) or features.n_features != n:
        raise ValueError(
            f"`policy` must act on the raw state (features RawState({n})) for its mean to be "
            f"linear in x; got {type(features).__name__} with {features.n_features} features"
        )
    if policy.action_dim != m:
        raise ShapeError(f"`policy` must have action_dim m = {m}; got {policy.action_dim}")
    if policy.state_dependent_std:
        raise ValueError(
            "`policy` has a state-dependent σ(x): the closed form needs σ independent of x "
            "(state_dependent_std=False)"
        )
    theta = policy.get_flat()
    if theta.ndim == 2 and theta.shape[0] == 1:
        theta = theta[0]
    if theta.ndim != 1:
        raise ShapeError(f"`policy` must hold one θ of shape [P]; got {theta.shape}")
    block = theta[: policy.n_mean_parameters].reshape(m, n + 1)
    eta = theta[policy.n_mean_parameters :] if policy.learn_std else policy.fixed_eta
    log_std, slope = bounded_log_std(np.asarray(eta, dtype=np.float64), policy.min_log_std,
                                     policy.max_log_std)  # fmt: skip
    return PolicyCoordinates(
        -block[:, :n], block[:, n].copy(), np.exp(log_std), slope if policy.learn_std else None
    )


def gradient_in_theta(policy: LinearGaussianPolicy, gradient: GainGradient) -> np.ndarray:
    """A derivative in (K, b, σ) written in the policy's flat θ, shape [P].

    θ = [W | b] row by row (W = −K), then η with ln σ = bounded(η) where σ is learned:
    ∂/∂W = −∂/∂K and ∂/∂η = ∂/∂σ · σ · d ln σ/dη.
    """
    mean_part = np.hstack([-gradient.gain, gradient.offset[:, None]]).ravel()
    if not policy.learn_std:
        return mean_part
    theta = policy.get_flat().reshape(-1)
    log_std, slope = bounded_log_std(
        theta[policy.n_mean_parameters :], policy.min_log_std, policy.max_log_std
    )
    return np.concatenate([mean_part, gradient.std * np.exp(log_std) * slope])


def linear_quadratic_gradient(
    policy: LinearGaussianPolicy, system: LinearQuadraticSystem
) -> ExactGradient:
    """J, ∇J, F and F⁻¹∇J of a linear Gaussian policy over the raw state, in its flat θ.

    The policy's mean W x + b is u's mean −K x + b (K = −W); its σ is fixed or
    learned through η (`LinearGaussianPolicy`'s bounded ln σ). The Fisher information under
    the normalised discounted visitation is block-diagonal: for the mean's parameters
    diag(1/σ²) ⊗ Σ/Σ_t γ^t (row by row, Σ the discounted second moment of [x, 1]), for each
    η 2 (d ln σ/dη)². The natural gradient is solved block by block: σ_i² (∂J/∂F_i) Σ̄⁻¹
    (least squares where Σ̄ is singular) and ∂J/∂η / (2 (d ln σ/dη)²).

    Raises:
      TypeError: if `policy` is not a LinearGaussianPolicy.
      ValueError: if it does not act on the raw state, or its σ depends on x.
      UnstableGainError: see `linear_quadratic_terms`.
    """
    coordinates = policy_coordinates(policy, system)
    terms = linear_quadratic_terms(system, coordinates.gain, coordinates.offset, coordinates.std)
    gradient = gradient_in_theta(policy, terms.gradient)
    n, m = system.n_states, system.n_controls
    moment = terms.second_moment / terms.discount_mass  # Σ̄ = E_μ[z zᵀ]
    variance = coordinates.std**2
    mean_fisher = np.kron(np.diag(1.0 / variance), moment)
    mean_gradient = gradient[: m * (n + 1)].reshape(m, n + 1)
    mean_natural = variance[:, None] * np.linalg.lstsq(moment, mean_gradient.T, rcond=None)[0].T
    if coordinates.log_std_slope is None:
        fisher, natural = mean_fisher, mean_natural.ravel()
    else:
        information = 2.0 * coordinates.log_std_slope**2
        fisher = np.zeros((gradient.size, gradient.size))
        fisher[: m * (n + 1), : m * (n + 1)] = mean_fisher
        fisher[m * (n + 1) :, m * (n + 1) :] = np.diag(information)
        std_gradient = gradient[m * (n + 1) :]
        std_natural = np.where(
            information > 0, std_gradient / np.where(information > 0, information, 1.0), 0.0
        )
        natural = np.concatenate([mean_natural.ravel(), std_natural])
    return ExactGradient(terms.objective, gradient, fisher, natural, terms)
