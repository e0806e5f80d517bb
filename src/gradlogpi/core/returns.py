"""Returns, reward-to-go, GAE(λ) advantages and the REINFORCE policy-gradient estimate.

Conventions: `rewards[..., t]` is R_{t+1}, the reward that follows action A_t, so an
episode of T steps has T rewards. Episodes of different lengths share one array of
width T_max; `lengths` (or a boolean `mask`) says which steps are real. Steps past an
episode's end have return 0 and contribute nothing.
"""

from __future__ import annotations

import functools

import numpy as np

from gradlogpi.core._checks import (
    as_float_array,
    check_batch_shape,
    check_in_range,
    check_min_ndim,
)
from gradlogpi.errors import ShapeError


def step_mask(
    shape: tuple[int, ...], lengths: np.ndarray | None = None, mask: np.ndarray | None = None
) -> np.ndarray | None:
    """Boolean mask [..., T] of real steps from `lengths` [...] or `mask` [..., T] (not both).

    Returns None when neither is given (every step is real).
    """
    if lengths is not None and mask is not None:
        raise ValueError("pass either `lengths` or `mask`, not both; got both")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        check_batch_shape("mask", mask.shape, shape, "the shape of `rewards`")
        return mask
    if lengths is None:
        return None
    lengths = np.asarray(lengths)
    check_batch_shape("lengths", lengths.shape, shape[:-1], "the batch shape of `rewards`")
    if lengths.size and (lengths.min() < 0 or lengths.max() > shape[-1]):
        raise ValueError(
            f"`lengths` must be in [0, T={shape[-1]}]; got values from {lengths.min()} "
            f"to {lengths.max()}"
        )
    return np.arange(shape[-1]) < lengths[..., None]


def discounted_returns(
    rewards: np.ndarray,
    gamma: float,
    *,
    lengths: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Discounted returns G_t = Σ_{k=t}^{T−1} γ^{k−t} R_{k+1} (Sutton & Barto 2018, eq. 3.8).

    Computed backwards with G_t = R_{t+1} + γ G_{t+1}, in blocks of 32 steps: inside a
    block G is one matrix product with the Toeplitz matrix of γ^{j−i} (no division by
    small powers of γ, so no loss of precision), and the blocks are chained backwards,
    O(T) with T/32 Python steps, vectorised over the batch.

    Args:
      rewards: R_{t+1}, shape [..., T].
      gamma: discount γ in [0, 1].
      lengths: optional episode lengths, int, shape [...], values in [0, T].
      mask: optional boolean mask of real steps, shape [..., T] (instead of lengths).

    Returns:
      float64 array, shape [..., T]; 0 past each episode's end.

    Raises:
      ValueError: if gamma is outside [0, 1]; ShapeError on mismatched shapes.

    Examples:
      >>> discounted_returns(np.array([1.0, 1.0, 1.0]), 0.5)
      array([1.75, 1.5 , 1.  ])
      >>> discounted_returns(np.array([[-1.0, -1.0], [-1.0, 0.0]]), 1.0, lengths=np.array([2, 1]))
      array([[-2., -1.],
             [-1.,  0.]])
    """
    rewards = _checked_rewards(rewards)
    gamma = check_in_range("gamma", gamma, 0.0, 1.0)
    valid = step_mask(rewards.shape, lengths, mask)
    if valid is not None:
        rewards = np.where(valid, rewards, 0.0)
    return _backward_discounted_sum(rewards, gamma)


_BLOCK = 32


@functools.lru_cache(maxsize=64)
def _block_operators(gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """(Γ [B, B] with Γ[i, j] = γ^{j−i} for j ≥ i, else 0; γ^{B−i} [B]) for blocks of B steps."""
    offsets = np.arange(_BLOCK)
    lag = offsets[None, :] - offsets[:, None]  # j − i
    toeplitz = np.where(lag >= 0, gamma ** np.maximum(lag, 0), 0.0)
    carry = gamma ** (_BLOCK - offsets)  # how G at the next block's start reaches step i
    toeplitz.flags.writeable = carry.flags.writeable = False
    return toeplitz, carry


def _backward_discounted_sum(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = Σ_{k ≥ t} γ^{k−t} r_k along the last axis, with no Python loop over steps.

    Inside each block of B steps G is one product with Γ; the returns at the blocks'
    starts are themselves a discounted sum, over blocks with discount γ^B, so the same
    function gives them (recursion depth log_B T).
    """
    n_steps = rewards.shape[-1]
    n_blocks = max(1, -(-n_steps // _BLOCK))
    padded = np.zeros((*rewards.shape[:-1], n_blocks * _BLOCK))
    padded[..., :n_steps] = rewards
    toeplitz, carry = _block_operators(float(gamma))
    within = padded.reshape(*rewards.shape[:-1], n_blocks, _BLOCK) @ toeplitz.T
    if n_blocks > 1:
        starts = _backward_discounted_sum(within[..., 0], float(gamma) ** _BLOCK)  # [..., n_blocks]
        within[..., :-1, :] += carry * starts[..., 1:, None]  # + γ^{B−i} G(next block's start)
    return within.reshape(*rewards.shape[:-1], -1)[..., :n_steps]


def generalized_advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    ended: np.ndarray,
    gamma: float,
    lambda_: float,
) -> np.ndarray:
    """GAE(λ) advantages (Schulman et al. 2016, eq. 16), backwards in O(T).

        δ_t = R_{t+1} + γ (1 − terminated_t) v̂(S_{t+1}) − v̂(S_t)
        A_t = δ_t + γ λ (1 − ended_t) A_{t+1}

    `next_values` are v̂ of the state each step led to, in its own episode: where an
    episode was cut by a time limit (or a fragment ends mid-episode) that state is not
    terminal and its value bootstraps; where it terminated, v̂(S_{t+1}) counts as 0. An
    advantage never reaches across an episode's end (`ended`: terminated or cut at t).
    λ = 1 gives G_t − v̂(S_t) (bootstrapped at cuts); λ = 0 gives the TD errors δ_t.

    Args:
      rewards: R_{t+1}, shape [..., T].
      values: v̂(S_t), shape [..., T].
      next_values: v̂(S_{t+1}) of the same episode, shape [..., T].
      terminated: the episode terminated at step t (S_{t+1} terminal), bool [..., T].
      ended: the episode ended at step t, by termination or a cut; also True on the last
        step of a fragment (nothing after it is known), bool [..., T].
      gamma: discount γ in [0, 1].
      lambda_: λ in [0, 1].

    Returns:
      float64 advantages A_t, shape [..., T].

    Examples:
      >>> generalized_advantages(
      ...     np.array([1.0, 1.0]), np.zeros(2), np.zeros(2),
      ...     np.array([False, True]), np.array([False, True]), 0.9, 1.0,
      ... )
      array([1.9, 1. ])
    """
    rewards = as_float_array("rewards", rewards)
    check_min_ndim("rewards", rewards, 1, "[..., T]")
    arrays = {}
    for name, array in (("values", values), ("next_values", next_values)):
        arrays[name] = as_float_array(name, array)
        check_batch_shape(name, arrays[name].shape, rewards.shape, "the shape of `rewards`")
    for name, array in (("terminated", terminated), ("ended", ended)):
        arrays[name] = np.asarray(array, dtype=bool)
        check_batch_shape(name, arrays[name].shape, rewards.shape, "the shape of `rewards`")
    check_in_range("gamma", gamma, 0.0, 1.0)
    check_in_range("lambda_", lambda_, 0.0, 1.0)
    bootstrap = np.where(arrays["terminated"], 0.0, arrays["next_values"])
    deltas = rewards + gamma * bootstrap - arrays["values"]  # δ_t, [..., T]
    carry = gamma * lambda_ * ~arrays["ended"]  # how much of A_{t+1} reaches A_t
    advantages = np.empty_like(deltas)
    following = np.zeros(rewards.shape[:-1])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        following = deltas[..., t] + carry[..., t] * following
        advantages[..., t] = following
    return advantages


def reward_to_go(
    rewards: np.ndarray,
    *,
    lengths: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Undiscounted reward-to-go Σ_{k=t}^{T−1} R_{k+1}, the weight of step t in G(PO)MDP.

    Args:
      rewards: R_{t+1}, shape [..., T].
      lengths: optional episode lengths, shape [...].
      mask: optional boolean mask of real steps, shape [..., T].

    Returns:
      float64 array, shape [..., T].

    Examples:
      >>> reward_to_go(np.array([1.0, 2.0, 3.0]))
      array([6., 5., 3.])
    """
    rewards = _checked_rewards(rewards)
    valid = step_mask(rewards.shape, lengths, mask)
    if valid is not None:
        rewards = np.where(valid, rewards, 0.0)
    return np.flip(np.cumsum(np.flip(rewards, axis=-1), axis=-1), axis=-1)


def discount_powers(n_steps: int, gamma: float) -> np.ndarray:
    """γ^t for t = 0..n_steps−1, shape [n_steps]."""
    gamma = check_in_range("gamma", gamma, 0.0, 1.0)
    return gamma ** np.arange(n_steps, dtype=np.float64)


def policy_gradient_estimate(
    scores: np.ndarray,
    returns: np.ndarray,
    gamma: float,
    *,
    discount_weighting: bool = True,
    lengths: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """One episode's REINFORCE estimate Σ_t γ^t G_t ∇θ log π(A_t|S_t) of ∇v(S_0).

    With `discount_weighting=True` this is Sutton & Barto's REINFORCE weighting (p. 328),
    an unbiased sample of the policy-gradient theorem's ∇v(s0). Setting it to False drops
    the γ^t factor, as most deep-RL code does (a biased but common choice).

    Args:
      scores: ∇θ log π(A_t|S_t), shape [..., T, d].
      returns: G_t (or any per-step weight, such as G_t − b(S_t)), shape [..., T].
      gamma: discount γ in [0, 1].
      discount_weighting: multiply step t by γ^t.
      lengths: optional episode lengths, shape [...].
      mask: optional boolean mask of real steps, shape [..., T].

    Returns:
      float64 array, shape [..., d].

    Examples:
      >>> scores = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> policy_gradient_estimate(scores, np.array([2.0, 1.0]), 0.5)
      array([2. , 0.5])
    """
    scores = as_float_array("scores", scores)
    returns = as_float_array("returns", returns)
    check_min_ndim("scores", scores, 2, "[..., T, d]")
    check_batch_shape("returns", returns.shape, scores.shape[:-1], "scores.shape[:-1]")
    weights = returns
    if discount_weighting:
        weights = weights * discount_powers(scores.shape[-2], gamma)
    else:
        check_in_range("gamma", gamma, 0.0, 1.0)
    valid = step_mask(returns.shape, lengths, mask)
    if valid is not None:
        weights = np.where(valid, weights, 0.0)
    return (weights[..., None, :] @ scores)[..., 0, :]


def normalized(values: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """(values − mean) / std over all real entries; zeros where the std is 0.

    A batch of one step or of equal returns has no spread: it gives zeros rather than
    NaN, so an update on it changes nothing.

    Args:
      values: any shape.
      mask: optional boolean mask of the entries to use, same shape.

    Returns:
      float64 array of the same shape, 0 where masked out.

    Examples:
      >>> normalized(np.array([3.0, 3.0]))
      array([0., 0.])
    """
    values = as_float_array("values", values)
    valid = np.ones(values.shape, bool) if mask is None else np.asarray(mask, bool)
    if valid.shape != values.shape:
        raise ShapeError(
            f"`mask` must have the shape of `values` {values.shape}; got {valid.shape}"
        )
    selected = values[valid]
    if selected.size == 0:
        return np.zeros_like(values)
    std = selected.std()
    if not std > 1e-12 * max(1.0, float(np.abs(selected).max())):
        return np.zeros_like(values)
    return np.where(valid, (values - selected.mean()) / std, 0.0)


def _checked_rewards(rewards: np.ndarray) -> np.ndarray:
    rewards = as_float_array("rewards", rewards)
    check_min_ndim("rewards", rewards, 1, "[..., T]")
    return rewards
