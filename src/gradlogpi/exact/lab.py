"""The estimator lab: every sampled policy-gradient estimator against the exact ∇J.

At a fixed θ, N episodes are drawn from the model itself: a finite MDP (no time limit:
for γ < 1 episodes are cut after `max_steps`, whose γ^T tail is negligible and reported)
or a linear-quadratic system with a Gaussian policy (over the system's horizon, the
environment's time limit). Each estimator turns each episode into a gradient estimate
ĝ_i = Σ_t w_it ψ(S_t, A_t). Their mean is compared with the exact ∇J of `exact_gradient`:
bias in standard errors (the largest |z| of a component, and χ, the length of the mean's
error in its own standard errors, whose reference is the χ distribution with d degrees of
freedom), the variance's trace, the cosine to ∇J, and the error against the number of
episodes averaged.

An estimator is a function of one batch of episodes with the exact critic along them
(`Steps`), returning the per-step weights w [N, T]. New ones plug in with
`register_estimator`. Beside them, `first_step_directions` measures the directions PPO's
and TRPO's first step take on batches of episodes (and the sampled natural gradient's),
against ∇J and the exact natural gradient F⁻¹∇J.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from gradlogpi.core.returns import discount_powers, generalized_advantages, normalized
from gradlogpi.exact.lqr import LinearQuadraticSystem, policy_coordinates
from gradlogpi.exact.mdp import FiniteMDP
from gradlogpi.exact.result import ExactGradient
from gradlogpi.policies.linear_gaussian import LinearGaussianPolicy

MIN_CONTRIBUTING = 100
"""Episodes that must touch a gradient component for its bias to be judged in s.e."""

GAE_LAMBDA = 0.95
"""λ of the GAE(λ) advantages of PPO's and TRPO's first step (their configs' default)."""

TRPO_DAMPING = 0.1
"""λ added to the sampled Fisher matrix's diagonal in TRPO's solve (TRPOConfig's default)."""

BATCH_EPISODES = 40
"""Episodes per batch for the first-step directions (40 × 50 LQR steps ≈ PPO's 2048)."""


class Episodes(NamedTuple):
    """N episodes of a finite MDP padded to T steps: S_t, A_t, R_{t+1}, S_{t+1}, real steps."""

    states: np.ndarray  # [N, T] int
    actions: np.ndarray  # [N, T] int
    rewards: np.ndarray  # [N, T]
    next_states: np.ndarray  # [N, T] int
    mask: np.ndarray  # [N, T] bool
    cut: np.ndarray  # [N] bool: reached max_steps before a terminal state


class ControlEpisodes(NamedTuple):
    """N episodes of a linear-quadratic system, T steps each: x_t, u_t, r_{t+1}, x_{t+1}."""

    states: np.ndarray  # [N, T, n]
    actions: np.ndarray  # [N, T, m]
    rewards: np.ndarray  # [N, T]
    next_states: np.ndarray  # [N, T, n]
    mask: np.ndarray  # [N, T] bool (all True: no episode ends early)
    cut: np.ndarray  # [N] bool: cut before the horizon (an infinite one) was reached


def default_max_steps(gamma: float) -> int:
    """The first T with γ^T < 1e-12 (what follows changes no estimate by more), or 10,000."""
    if gamma >= 1.0 or gamma <= 0.0:
        return 10_000
    return int(np.ceil(np.log(1e-12) / np.log(gamma)))


def sample_episodes(
    mdp: FiniteMDP,
    probabilities: np.ndarray,
    n_episodes: int,
    rng: np.random.Generator,
    max_steps: int | None = None,
) -> Episodes:
    """Draw N episodes of the policy π(a|s) = probabilities[s, a] from the model, in lockstep.

    Episodes are cut after `max_steps`; by default the first T with γ^T < 1e-12 (what
    follows changes no estimate by more than that), or 10,000 steps at γ = 1.
    """
    if max_steps is None:
        max_steps = default_max_steps(mdp.gamma)
    states = rng.choice(mdp.n_states, size=n_episodes, p=mdp.start)
    alive = ~mdp.terminal[states]
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("s", "a", "r", "n", "m")}
    action_cdf = np.cumsum(probabilities, axis=1)
    transition_cdf = np.cumsum(mdp.transitions, axis=2)
    for _ in range(max_steps):
        if not alive.any():
            break
        actions = (rng.random(n_episodes)[:, None] > action_cdf[states]).sum(axis=1)
        actions = np.minimum(actions, mdp.n_actions - 1)
        following = (rng.random(n_episodes)[:, None] > transition_cdf[states, actions]).sum(axis=1)
        following = np.minimum(following, mdp.n_states - 1)
        for key, value in (
            ("s", states), ("a", actions), ("r", mdp.rewards[states, actions] * alive),
            ("n", following), ("m", alive.copy()),
        ):  # fmt: skip
            columns[key].append(value)
        states = np.where(alive, following, states)
        alive = alive & ~mdp.terminal[states]
    stacked = {k: np.stack(v, axis=1) for k, v in columns.items()}
    return Episodes(
        stacked["s"], stacked["a"], stacked["r"], stacked["n"], stacked["m"], alive.copy()
    )


def initial_states(
    system: LinearQuadraticSystem, n_episodes: int, rng: np.random.Generator
) -> np.ndarray:
    """x_0 for N episodes, shape [N, n]: from the system's initial distribution.

    "uniform": each component uniform on m₀ ± √(3 Σ₀_ii) (the shipped LQR's reset);
    "normal": N(m₀, Σ₀). J depends on x_0 only through m₀ and Σ₀, so both give the same ∇J.
    """
    assert system.initial_mean is not None and system.initial_covariance is not None
    n = system.n_states
    if system.initial_distribution == "uniform":
        half_widths = np.sqrt(3.0 * np.diag(system.initial_covariance))
        return system.initial_mean + half_widths * rng.uniform(-1.0, 1.0, (n_episodes, n))
    return system.initial_mean + rng.standard_normal((n_episodes, n)) @ _root(
        system.initial_covariance
    )


def _root(covariance: np.ndarray) -> np.ndarray:
    """S with SᵀS = covariance for a positive semi-definite matrix (by eigh: no Cholesky failure)."""
    eigenvalues, vectors = np.linalg.eigh(covariance)
    root: np.ndarray = (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T
    return root


def sample_control_episodes(
    system: LinearQuadraticSystem,
    policy: LinearGaussianPolicy,
    n_episodes: int,
    rng: np.random.Generator,
    max_steps: int | None = None,
) -> ControlEpisodes:
    """Draw N episodes of a linear Gaussian policy on a linear-quadratic system, in lockstep.

    Actions come from the policy itself (`sample_from_noise`); rewards −(xᵀQx + uᵀRu) and
    x' = A x + B u + w from the system. An episode lasts the system's horizon T (an
    infinite one is cut after `max_steps`, by default the first T with γ^T < 1e-12).
    """
    policy_coordinates(policy, system)  # a linear Gaussian policy over the raw state
    horizon = system.horizon
    steps = horizon if horizon is not None else (max_steps or default_max_steps(system.gamma))
    n, m = system.n_states, system.n_controls
    assert system.noise_covariance is not None
    noise_root = _root(system.noise_covariance)
    state = initial_states(system, n_episodes, rng)
    states, actions = np.empty((n_episodes, steps, n)), np.empty((n_episodes, steps, m))
    rewards = np.empty((n_episodes, steps))
    for t in range(steps):
        action = policy.sample_from_noise(state, rng.standard_normal((n_episodes, m)))
        states[:, t], actions[:, t] = state, action
        rewards[:, t] = -(
            np.einsum("ni,ij,nj->n", state, system.q, state)
            + np.einsum("ni,ij,nj->n", action, system.r, action)
        )
        state = state @ system.a.T + action @ system.b.T
        if np.any(noise_root):
            state = state + rng.standard_normal((n_episodes, n)) @ noise_root
    next_states = np.concatenate([states[:, 1:], state[:, None]], axis=1)
    mask = np.ones((n_episodes, steps), dtype=bool)
    return ControlEpisodes(
        states, actions, rewards, next_states, mask, np.full(n_episodes, horizon is None)
    )


def rewards_to_go(episodes: Episodes | ControlEpisodes | Steps, gamma: float) -> np.ndarray:
    """G_t = Σ_{k≥t} γ^{k−t} R_{k+1}, shape [N, T]."""
    returns = np.zeros_like(episodes.rewards)
    following = np.zeros(episodes.rewards.shape[0])
    for t in range(episodes.rewards.shape[1] - 1, -1, -1):
        following = episodes.rewards[:, t] + gamma * following
        returns[:, t] = following
    return returns * episodes.mask


class Steps(NamedTuple):
    """What every estimator reads: N episodes padded to T steps, with critics along them."""

    rewards: np.ndarray
    """R_{t+1}, shape [N, T] (0 past an episode's end)."""
    mask: np.ndarray
    """Which steps are real, bool [N, T]."""
    values: np.ndarray
    """The exact v_π(S_t), shape [N, T] (v_t(x_t), time-dependent, over a finite horizon)."""
    next_values: np.ndarray
    """The exact v_π(S_{t+1}), shape [N, T]: 0 where S_{t+1} is terminal or the horizon's end."""
    wrong_values: np.ndarray
    """A wrong critic v̂(S_t), fixed before sampling, shape [N, T]."""
    wrong_next_values: np.ndarray
    """v̂(S_{t+1}), shape [N, T] (0 where v_π(S_{t+1}) is)."""
    terminated: np.ndarray
    """S_{t+1} is terminal, bool [N, T]."""
    gamma: float
    """γ."""
    objective: float
    """The exact J(θ)."""


Weights = Callable[[Steps], np.ndarray]


@dataclass(frozen=True)
class Estimator:
    """A registered estimator: its per-step weights and whether it is unbiased for ∇J."""

    name: str
    weights: Weights
    unbiased: bool
    """Unbiased for ∇J at every γ."""
    description: str
    unbiased_at_gamma_one: bool = False
    """Unbiased when γ = 1 (where it coincides with an unbiased one)."""

    def unbiased_for(self, gamma: float) -> bool:
        return self.unbiased or (self.unbiased_at_gamma_one and gamma == 1.0)


ESTIMATORS: dict[str, Estimator] = {}


def register_estimator(estimator: Estimator) -> Estimator:
    if estimator.name in ESTIMATORS:
        raise ValueError(f"`name` {estimator.name!r} is already registered")
    ESTIMATORS[estimator.name] = estimator
    return estimator


def _powers(steps: Steps) -> np.ndarray:
    return discount_powers(steps.rewards.shape[1], steps.gamma)[None, :]


def _reinforce(steps: Steps) -> np.ndarray:
    return _powers(steps) * rewards_to_go(steps, steps.gamma)


def _no_discount_power(steps: Steps) -> np.ndarray:
    return rewards_to_go(steps, steps.gamma)


def _whole_episode(steps: Steps) -> np.ndarray:
    total = rewards_to_go(steps, steps.gamma)[:, :1]  # G_0
    return np.broadcast_to(total, steps.rewards.shape) * steps.mask


def _constant_baseline(steps: Steps) -> np.ndarray:
    returns = rewards_to_go(steps, steps.gamma)
    return _powers(steps) * (returns - steps.objective) * steps.mask


def _value_baseline(steps: Steps) -> np.ndarray:
    returns = rewards_to_go(steps, steps.gamma)
    return _powers(steps) * (returns - steps.values) * steps.mask


def _wrong_value_baseline(steps: Steps) -> np.ndarray:
    returns = rewards_to_go(steps, steps.gamma)
    return _powers(steps) * (returns - steps.wrong_values) * steps.mask


def _td_errors(steps: Steps, values: np.ndarray, next_values: np.ndarray) -> np.ndarray:
    errors = steps.rewards + steps.gamma * next_values - values
    return _powers(steps) * errors * steps.mask


def _actor_critic(steps: Steps) -> np.ndarray:
    return _td_errors(steps, steps.values, steps.next_values)


def _actor_critic_wrong(steps: Steps) -> np.ndarray:
    return _td_errors(steps, steps.wrong_values, steps.wrong_next_values)


for _estimator in (
    Estimator(
        "reinforce", _reinforce, True,
        "Σ γ^t G_t ψ_t: the book's per-step REINFORCE (13.8); the same sum as G(PO)MDP",
    ),
    Estimator(
        "reinforce_whole_episode", _whole_episode, True,
        "G_0 Σ ψ_t: every action credited with the whole discounted return (Williams 1992)",
    ),
    Estimator(
        "reinforce_without_gamma_t", _no_discount_power, False,
        "Σ G_t ψ_t: the common omission of γ^t; biased for γ < 1 (unbiased at γ = 1)",
        unbiased_at_gamma_one=True,
    ),
    Estimator(
        "constant_baseline", _constant_baseline, True,
        "Σ γ^t (G_t − b) ψ_t with the constant b = J(θ)",
    ),
    Estimator(
        "value_baseline", _value_baseline, True,
        "Σ γ^t (G_t − v_π(S_t)) ψ_t: REINFORCE with baseline (13.11), exact critic",
    ),
    Estimator(
        "wrong_value_baseline", _wrong_value_baseline, True,
        "as value_baseline with a wrong v̂: a baseline never biases, it only changes variance",
    ),
    Estimator(
        "actor_critic", _actor_critic, True,
        "Σ γ^t δ_t ψ_t, δ = R + γ v_π(S') − v_π(S): one-step actor-critic (13.12), exact critic",
    ),
    Estimator(
        "actor_critic_wrong_critic", _actor_critic_wrong, False,
        "as actor_critic with a wrong v̂: bootstrapping from it biases the gradient",
    ),
):  # fmt: skip
    register_estimator(_estimator)


def per_episode_estimates(
    episodes: Episodes, weights: np.ndarray, scores: np.ndarray
) -> np.ndarray:
    """ĝ_n = Σ_t w_nt ψ(S_nt, A_nt), shape [N, P], without an [N, T, P] array.

    The weights are first summed per (episode, state, action), then multiplied by the
    [S·A, P] score table: memory N·S·A instead of N·T·P.
    """
    n_episodes = weights.shape[0]
    n_states, n_actions, n_parameters = scores.shape
    cells = (
        np.arange(n_episodes)[:, None] * (n_states * n_actions)
        + episodes.states * n_actions
        + episodes.actions
    )
    totals = np.bincount(
        cells[episodes.mask],
        weights=weights[episodes.mask],
        minlength=n_episodes * n_states * n_actions,
    ).reshape(n_episodes, n_states * n_actions)
    return totals @ scores.reshape(n_states * n_actions, n_parameters)


@dataclass(frozen=True)
class Sample:
    """N episodes drawn at θ, what the estimators read along them, and sums of their scores."""

    episodes: Episodes | ControlEpisodes
    steps: Steps
    estimates_of: Callable[[np.ndarray], np.ndarray]
    """Per-step weights [N, T] → per-episode estimates Σ_t w_t ψ_t [N, P]."""
    score_sum: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """(episodes [r], weights [r, T]) → Σ w ψ over their steps [P] (weights 0 past an end)."""
    score_outer_sum: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """(episodes [r], weights [r, T]) → Σ w ψ ψᵀ over their steps [P, P]."""

    @property
    def cut(self) -> np.ndarray:
        """Which episodes were cut before they ended, bool [N]."""
        return self.episodes.cut


def wrong_critic(exact: ExactGradient) -> np.ndarray:
    """A finite MDP's v̂(s) = v_π(s) + 5·(−1)^s: any state-dependent error, fixed before sampling."""
    signs = np.where(np.arange(exact.values.size) % 2 == 0, 1.0, -1.0)
    return exact.values + 5.0 * signs


WRONG_CRITIC_SCALE = 0.5
"""A linear-quadratic system's wrong critic: v̂ = 0.5 v_π, a critic that has learned half the
value (bootstrapping from it makes the gradient more myopic)."""


def draw(
    model: FiniteMDP | LinearQuadraticSystem,
    exact: ExactGradient,
    n_episodes: int,
    rng: np.random.Generator,
    policy: LinearGaussianPolicy | None = None,
) -> Sample:
    """N episodes at θ and the exact critics along them (`policy` for a linear-quadratic one)."""
    if isinstance(model, LinearQuadraticSystem):
        if policy is None:
            raise TypeError("`policy` is needed to sample a linear-quadratic system (the lab's θ)")
        return _draw_control(model, exact, n_episodes, rng, policy)
    episodes = sample_episodes(model, exact.probabilities, n_episodes, rng)
    terminated = model.terminal[episodes.next_states] & episodes.mask

    def along(critic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        following = np.where(terminated, 0.0, critic[episodes.next_states])
        return critic[episodes.states] * episodes.mask, following * episodes.mask

    values, next_values = along(exact.values)
    wrong_values, wrong_next_values = along(wrong_critic(exact))
    steps = Steps(
        episodes.rewards, episodes.mask, values, next_values, wrong_values, wrong_next_values,
        terminated, model.gamma, exact.objective,
    )  # fmt: skip
    scores = exact.scores
    n_cells = scores.shape[0] * scores.shape[1]
    table = scores.reshape(n_cells, -1)  # ψ of every (state, action): sums go through it

    def cell_sums(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        mask = episodes.mask[rows]
        cells = episodes.states[rows] * scores.shape[1] + episodes.actions[rows]
        return np.bincount(cells[mask], weights=weights[mask], minlength=n_cells)

    def score_sum(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        total: np.ndarray = cell_sums(rows, weights) @ table
        return total

    def score_outer_sum(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        total: np.ndarray = table.T @ (cell_sums(rows, weights)[:, None] * table)
        return total

    def estimates_of(weights: np.ndarray) -> np.ndarray:
        return per_episode_estimates(episodes, weights, scores)

    return Sample(episodes, steps, estimates_of, score_sum, score_outer_sum)


def _draw_control(
    system: LinearQuadraticSystem,
    exact: ExactGradient,
    n_episodes: int,
    rng: np.random.Generator,
    policy: LinearGaussianPolicy,
) -> Sample:
    terms = exact.linear_quadratic_terms()
    episodes = sample_control_episodes(system, policy, n_episodes, rng)
    time = np.arange(episodes.rewards.shape[1])
    values = terms.values(episodes.states, time)
    next_values = terms.values(episodes.next_states, time + 1)  # v_T = 0 at the horizon
    scores = policy.score(episodes.states, episodes.actions)  # [N, T, P]
    steps = Steps(
        episodes.rewards, episodes.mask, values, next_values, WRONG_CRITIC_SCALE * values,
        WRONG_CRITIC_SCALE * next_values, np.zeros_like(episodes.mask), system.gamma,
        exact.objective,
    )  # fmt: skip

    def estimates_of(weights: np.ndarray) -> np.ndarray:
        estimates: np.ndarray = np.einsum("nt,ntp->np", weights, scores)
        return estimates

    def score_sum(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        total: np.ndarray = np.einsum("nt,ntp->p", weights, scores[rows])
        return total

    def score_outer_sum(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        selected = scores[rows]
        total: np.ndarray = np.einsum("nt,ntp,ntq->pq", weights, selected, selected)
        return total

    return Sample(episodes, steps, estimates_of, score_sum, score_outer_sum)


class EstimatorReport(NamedTuple):
    """One estimator's N per-episode estimates against the exact gradient."""

    name: str
    unbiased: bool  # expected to be, at this γ
    mean: np.ndarray  # [P]
    standard_error: np.ndarray  # [P]
    bias_in_standard_errors: float  # max_j |mean_j − ∇J_j| / se_j (components ≥ 100 episodes touch)
    threshold: float  # what that maximum may reach by chance: `bias_threshold` of those components
    variance_trace: float  # Σ_j Var(ĝ_j) of one episode's estimate
    cosine: float  # cos(mean, ∇J)
    chi: float  # √(N (mean − ∇J)ᵀ Ĉ⁺ (mean − ∇J)): the error's length in its own s.e.
    degrees_of_freedom: int  # d: the rank of Ĉ on those components (χ ≈ √d without bias)
    chi_threshold: float  # χ_d's 1 − 1e-3 quantile: exceeded by chance once in 1000 studies
    episodes_averaged: np.ndarray  # n, [K]
    relative_error: np.ndarray  # RMS ‖mean of n estimates − ∇J‖ / ‖∇J‖, [K]


def bias_threshold(n_components: int, false_alarm: float = 1e-3) -> float:
    """The largest |z| of n unbiased components exceeds this with probability `false_alarm`.

    Bonferroni over the components: z* = Φ⁻¹(1 − false_alarm / 2n), never below 4 (the
    usual 4 standard errors): 4.0 for up to 3 components, 4.32 for 64.
    """
    if n_components < 1:
        return 4.0
    return max(4.0, NormalDist().inv_cdf(1.0 - false_alarm / (2.0 * n_components)))


def chi_statistic(estimates: np.ndarray, target: np.ndarray) -> tuple[float, int]:
    """(χ, d): the mean's error in its own standard errors, over the d directions it varies in.

    χ² = N (ḡ − g)ᵀ Ĉ⁺ (ḡ − g), Ĉ the sample covariance of the N estimates [N, P], restricted
    to its eigenvectors with eigenvalues above 1e-10 of the largest (d of them; a softmax's
    scores never vary along the directions that add a constant to every action). For an
    unbiased estimator χ² is close to χ²_d (Hotelling's T², N ≫ d): χ ≈ √d, and
    `chi_threshold(d)` is exceeded by chance with probability 1e-3. A bias shows as χ far
    beyond it, growing like √N.
    """
    n = estimates.shape[0]
    difference = estimates.mean(axis=0) - target
    covariance = np.atleast_2d(np.cov(estimates, rowvar=False, ddof=1))
    eigenvalues, vectors = np.linalg.eigh(covariance)
    kept = eigenvalues > 1e-10 * max(float(eigenvalues.max(initial=0.0)), 1e-300)
    projected = vectors[:, kept].T @ difference
    return float(np.sqrt(n * np.sum(projected**2 / eigenvalues[kept]))), int(kept.sum())


def chi_threshold(degrees_of_freedom: int, false_alarm: float = 1e-3) -> float:
    """√ of χ²_d's 1 − `false_alarm` quantile: 3.29 for d = 1, 4.03 for d = 3 (SciPy)."""
    from scipy.special import chdtri  # the χ² survival function's inverse

    return float(np.sqrt(chdtri(max(degrees_of_freedom, 1), false_alarm)))


def error_by_episodes(
    estimates: np.ndarray, target: np.ndarray, points: int = 12
) -> tuple[np.ndarray, np.ndarray]:
    """(n [K], RMS ‖mean of n estimates − target‖ / ‖target‖ [K]) for n from 1 to N / 20.

    The N estimates are cut into N // n disjoint blocks of n; the root mean square of the
    blocks' errors estimates √(tr Var / n + ‖bias‖²): it falls like 1/√n without bias and
    levels off at ‖bias‖ with one.
    """
    n_total = estimates.shape[0]
    sizes = np.unique(np.round(np.geomspace(1, max(n_total // 20, 1), points)).astype(int))
    scale = max(float(np.linalg.norm(target)), 1e-300)
    errors = []
    for size in sizes:
        blocks = n_total // size
        means = estimates[: blocks * size].reshape(blocks, size, -1).mean(axis=1)
        errors.append(np.sqrt(np.mean(np.sum((means - target) ** 2, axis=1))) / scale)
    return sizes, np.array(errors)


def study(
    model: FiniteMDP | LinearQuadraticSystem,
    exact: ExactGradient,
    n_episodes: int,
    seed: int,
    names: list[str] | None = None,
    policy: LinearGaussianPolicy | None = None,
) -> tuple[list[EstimatorReport], Sample]:
    """Draw N episodes at θ and report each estimator on the same episodes.

    Args:
      model: a `FiniteMDP`, or a `LinearQuadraticSystem` (then `policy` is the lab's linear
        Gaussian policy, at the θ `exact` was computed at).
      exact: `exact_gradient(policy, model)`.
      n_episodes: N >= 2.
      seed: seed of the episodes.
      names: which registered estimators (default: all).
      policy: the policy, needed for a linear-quadratic system.
    """
    if n_episodes < 2:
        raise ValueError(
            f"`n_episodes` must be >= 2 (a standard error needs two); got {n_episodes}"
        )
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    sample = draw(model, exact, n_episodes, rng, policy)
    reports = []
    for name in names or list(ESTIMATORS):
        estimator = ESTIMATORS[name]
        estimates = sample.estimates_of(estimator.weights(sample.steps))  # [N, P]
        reports.append(_report(estimator, estimates, exact, model.gamma))
    return reports, sample


def _report(
    estimator: Estimator, estimates: np.ndarray, exact: ExactGradient, gamma: float
) -> EstimatorReport:
    n_episodes = estimates.shape[0]
    mean = estimates.mean(axis=0)
    standard_error = estimates.std(axis=0, ddof=1) / np.sqrt(n_episodes)
    # a component that few episodes touch (a rarely visited state) has no usable
    # standard error: its mean is not yet normal, so it is left out of the bias check
    varies = (standard_error > 1e-12) & ((estimates != 0).sum(axis=0) >= MIN_CONTRIBUTING)
    difference = np.abs(mean - exact.gradient)
    bias = float((difference[varies] / standard_error[varies]).max(initial=0.0))
    chi, dof = (
        chi_statistic(estimates[:, varies], exact.gradient[varies]) if varies.any() else (0.0, 0)
    )
    cosine = float(
        mean @ exact.gradient / max(np.linalg.norm(mean) * np.linalg.norm(exact.gradient), 1e-300)
    )
    sizes, errors = error_by_episodes(estimates, exact.gradient)
    return EstimatorReport(
        estimator.name, estimator.unbiased_for(gamma), mean, standard_error, bias,
        bias_threshold(int(varies.sum())), float(estimates.var(axis=0, ddof=1).sum()), cosine,
        chi, dof, chi_threshold(dof), sizes, errors,
    )  # fmt: skip


# --- the directions of PPO's and TRPO's first step ------------------------------------------


class DirectionReport(NamedTuple):
    """A batch estimator's direction against an exact one, over B batches of episodes."""

    name: str
    target: str  # "∇J" or "F⁻¹∇J"
    description: str
    batch_episodes: int
    n_batches: int
    angle: float  # degrees between the batches' mean direction and the target
    noise_angle: float  # the angle the batches' spread alone would give that mean (1 s.e.)
    median_batch_angle: float  # the median over batches of one batch's angle to the target
    mean_direction: np.ndarray  # [P], the mean over batches (each as the algorithm computes it)


def _angle(vector: np.ndarray, target: np.ndarray) -> float:
    cosine = vector @ target / max(np.linalg.norm(vector) * np.linalg.norm(target), 1e-300)
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def _advantages(steps: Steps) -> np.ndarray:
    """GAE(λ) advantages [N, T] with the exact critic; an episode ends at its last real step."""
    following_real = np.concatenate([steps.mask[:, 1:], np.zeros_like(steps.mask[:, :1])], axis=1)
    ended = steps.terminated | (steps.mask & ~following_real)
    return generalized_advantages(
        steps.rewards, steps.values, steps.next_values, steps.terminated, ended | ~steps.mask,
        steps.gamma, GAE_LAMBDA,
    )  # fmt: skip


def first_step_directions(
    sample: Sample, exact: ExactGradient, batch_episodes: int = BATCH_EPISODES
) -> list[DirectionReport]:
    """PPO's and TRPO's first-step directions, and the sampled natural gradient, batch by batch.

    Each batch of `batch_episodes` episodes is what one update would collect. With the
    exact critic and GAE(λ = 0.95) advantages A, normalised over the batch's steps:

    - ppo_first_step: mean_i A_i ψ_i (the clipped surrogate's gradient while ρ = 1: its
      first minibatch step). No γ^t: it weighs late steps as much as early ones.
    - trpo_first_step: (F̂ + λI)⁻¹ mean_i A_i ψ_i with F̂ = mean_i ψ_i ψ_iᵀ over the batch's
      steps, λ = 0.1 (TRPO's conjugate gradient converges to this solve for P ≤ 10).
    - natural_gradient: F̂_γ⁺ ĝ with ĝ the batch's mean REINFORCE estimate and F̂_γ the
      γ^t-weighted mean of ψψᵀ: the plug-in estimate of the exact F⁻¹∇J.

    Returns one report per direction: the angle between the mean over batches and the
    target (∇J for PPO, F⁻¹∇J for the others), and the angle the batches' spread alone
    gives that mean (one standard error, orthogonal to the target): an angle far beyond it
    is the estimator's own, not noise.
    """
    steps = sample.steps
    n_episodes = steps.rewards.shape[0]
    n_batches = n_episodes // batch_episodes
    if n_batches < 2:
        raise ValueError(
            f"`batch_episodes` = {batch_episodes} leaves {n_batches} batch(es) of {n_episodes} "
            "episodes; the directions need at least 2"
        )
    advantages = _advantages(steps)
    reinforce = _reinforce(steps)
    powers = discount_powers(steps.rewards.shape[1], steps.gamma)[None, :] * steps.mask
    directions: dict[str, list[np.ndarray]] = {"ppo": [], "trpo": [], "natural": []}
    for batch in range(n_batches):
        rows = np.arange(batch * batch_episodes, (batch + 1) * batch_episodes)
        mask = steps.mask[rows]
        n_steps = int(mask.sum())
        advantage = np.zeros(mask.shape)
        advantage[mask] = normalized(advantages[rows][mask])
        gradient = sample.score_sum(rows, advantage) / n_steps  # mean A ψ over the steps
        fisher = sample.score_outer_sum(rows, mask.astype(np.float64)) / n_steps
        directions["ppo"].append(gradient)
        damped = fisher + TRPO_DAMPING * np.eye(fisher.shape[0])
        directions["trpo"].append(np.linalg.solve(damped, gradient))
        weights = powers[rows]
        discounted_fisher = sample.score_outer_sum(rows, weights) / weights.sum()
        estimate = sample.score_sum(rows, reinforce[rows]) / rows.size
        directions["natural"].append(np.linalg.lstsq(discounted_fisher, estimate, rcond=None)[0])
    described = {
        "ppo": ("ppo_first_step", "∇J", "mean A ψ over a batch's steps, GAE(0.95), normalised A"),
        "trpo": ("trpo_first_step", "F⁻¹∇J", "(F̂ + 0.1 I)⁻¹ mean A ψ: TRPO's step direction"),
        "natural": ("natural_gradient", "F⁻¹∇J", "F̂_γ⁺ ĝ: REINFORCE's mean, γ^t-weighted Fisher"),
    }
    reports = []
    for key, batches in directions.items():
        name, target_name, description = described[key]
        target = exact.gradient if target_name == "∇J" else exact.natural_gradient
        stacked = np.array(batches)  # [B, P]
        mean = stacked.mean(axis=0)
        unit = target / max(np.linalg.norm(target), 1e-300)
        across = stacked - np.outer(stacked @ unit, unit)  # the part orthogonal to the target
        spread = np.sqrt(np.sum(across.var(axis=0, ddof=1)) / n_batches)
        noise = float(np.degrees(np.arctan2(spread, abs(float(mean @ unit)))))
        reports.append(
            DirectionReport(
                name,
                target_name,
                description,
                batch_episodes,
                n_batches,
                _angle(mean, target),
                noise,
                float(np.median([_angle(b, target) for b in stacked])),
                mean,
            )
        )
    return reports
