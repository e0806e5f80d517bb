"""KL divergences between the distributions our policies put on actions.

TRPO bounds the mean KL(π_old(·|s) ‖ π_new(·|s)) over the visited states; PPO's early stop
estimates it. Both forms are exact here, computed from log-probabilities (never from
probabilities that may underflow).
"""

from __future__ import annotations

import numpy as np


def categorical_kl(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """KL(p ‖ q) = Σ_a p(a) (log p(a) − log q(a)) over the last axis, shape [...].

    Args:
      log_p: log-probabilities of p, shape [..., n] (each row normalised).
      log_q: log-probabilities of q, same shape.

    Terms with p(a) = 0 contribute 0 (x log x → 0), whatever q(a) is.

    Examples:
      >>> log_p = np.log(np.array([0.5, 0.5]))
      >>> float(categorical_kl(log_p, np.log(np.array([0.25, 0.75]))).round(6))
      0.143841
      >>> float(categorical_kl(log_p, log_p))
      0.0
    """
    p = np.exp(log_p)
    log_p, log_q = np.broadcast_arrays(log_p, log_q)
    # subtracted only where p > 0: −inf − (−inf) would be nan
    difference = np.subtract(log_p, log_q, out=np.zeros(log_p.shape), where=p > 0)
    return np.maximum((p * difference).sum(axis=-1), 0.0)


def gaussian_kl(
    mean_p: np.ndarray, log_std_p: np.ndarray, mean_q: np.ndarray, log_std_q: np.ndarray
) -> np.ndarray:
    """KL(N(μ_p, σ_p²) ‖ N(μ_q, σ_q²)) for diagonal Gaussians, summed over the last axis [...].

    Per dimension: log σ_q − log σ_p + (σ_p² + (μ_p − μ_q)²) / (2 σ_q²) − ½.

    Args:
      mean_p: p's mean, shape [..., d].
      log_std_p: p's log standard deviation, shape [..., d].
      mean_q: q's mean, broadcastable to the same shape.
      log_std_q: q's log standard deviation, broadcastable to the same shape.

    Examples:
      >>> float(gaussian_kl(np.zeros(1), np.zeros(1), np.ones(1), np.zeros(1)))
      0.5
    """
    variance_ratio = np.exp(2.0 * (log_std_p - log_std_q))
    shift = (mean_p - mean_q) * np.exp(-log_std_q)
    per_dimension = log_std_q - log_std_p + 0.5 * (variance_ratio + shift**2) - 0.5
    return np.maximum(per_dimension.sum(axis=-1), 0.0)
