"""Numerically stable softmax, log-softmax, entropy and the log-softmax gradient.

All functions work on the last axis (the A actions) and accept any leading batch axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlogpi.core._checks import as_float_array, check_actions, check_min_ndim


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities log π(a) = h_a − log Σ_b exp(h_b) of a softmax.

    Computed with the log-sum-exp shift by max_b h_b, so it stays finite for logits of any
    finite magnitude (an action whose probability underflows to 0 gets a finite, very
    negative log-probability instead of −inf).

    Args:
      logits: action preferences h, shape [..., A], A >= 1.

    Returns:
      float64 array, shape [..., A].

    Raises:
      ShapeError: if logits is a scalar.

    Examples:
      >>> log_softmax(np.array([0.0, 0.0])).round(4)
      array([-0.6931, -0.6931])
    """
    logits = as_float_array("logits", logits)
    check_min_ndim("logits", logits, 1, "[..., A]")
    return log_softmax_unchecked(logits)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities π(a) = exp(h_a) / Σ_b exp(h_b) (Sutton & Barto 2018, eq. 13.2).

    Args:
      logits: action preferences h, shape [..., A].

    Returns:
      float64 array, shape [..., A]; each row sums to 1.

    Examples:
      The seed question's network outputs:

      >>> softmax(np.array([14.0, 15.0, 11.0, 17.0])).round(3)
      array([0.042, 0.114, 0.002, 0.842])
    """
    logits = as_float_array("logits", logits)
    check_min_ndim("logits", logits, 1, "[..., A]")
    return softmax_unchecked(logits)


def softmax_entropy(logits: np.ndarray) -> np.ndarray:
    """Entropy H(π) = −Σ_a π(a) log π(a) of a softmax, in nats.

    Uses log π from `log_softmax`, which is finite even where π(a) underflows to 0, so
    0 · log 0 is taken as 0 (the xlogy convention) without evaluating log(0).

    Args:
      logits: action preferences, shape [..., A].

    Returns:
      float64 array, shape [...].

    Examples:
      >>> float(softmax_entropy(np.zeros(4))) == float(np.log(4))
      True
    """
    log_probabilities = log_softmax(logits)
    return -(np.exp(log_probabilities) * log_probabilities).sum(axis=-1)


def log_softmax_gradient(logits: np.ndarray, a: Any) -> np.ndarray:
    """Gradient of log π(a) with respect to the logits: onehot(a) − π.

    Component i is 1 − π(i) if i = a and −π(i) otherwise (seed 001: "1 − softmax if
    i = j, −softmax otherwise"). Every softmax score is this vector pushed through the
    derivative of the logits with respect to the parameters.

    Args:
      logits: action preferences, shape [..., A].
      a: chosen actions, int, shape [...], values in [0, A).

    Returns:
      float64 array, shape [..., A].

    Raises:
      ShapeError: if a.shape != logits.shape[:-1].
      ValueError: if an action is outside [0, A).

    Examples:
      >>> log_softmax_gradient(np.log([0.7, 0.3]), 0).round(12)
      array([ 0.3, -0.3])
    """
    logits = as_float_array("logits", logits)
    check_min_ndim("logits", logits, 1, "[..., A]")
    a = check_actions("a", a, logits.shape[:-1], logits.shape[-1], "logits")
    return one_hot(a, logits.shape[-1]) - softmax(logits)


def softmax_entropy_gradient(logits: np.ndarray) -> np.ndarray:
    """Gradient of the entropy H(softmax(h)) with respect to the logits: −π ⊙ (log π + H).

    Args:
      logits: action preferences, shape [..., A].

    Returns:
      float64 array, shape [..., A]; it sums to 0 over the actions.

    Examples:
      >>> bool(np.abs(softmax_entropy_gradient(np.zeros(3))).max() < 1e-15)  # maximal at uniform
      True
    """
    logits = as_float_array("logits", logits)
    check_min_ndim("logits", logits, 1, "[..., A]")
    log_probabilities = log_softmax_unchecked(logits)
    probabilities = np.exp(log_probabilities)
    entropy = -(probabilities * log_probabilities).sum(axis=-1, keepdims=True)
    return -probabilities * (log_probabilities + entropy)


def gumbel_max_sample(logits: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """A ~ softmax(h) as argmax_a (h_a + G_a), G_a = −log(−log U_a) Gumbel noise.

    Exact sampling from the logits without normalising them (no exp, no sum): the cheapest
    way to act from a softmax policy, one uniform per action.

    Args:
      logits: action preferences h, shape [..., A].
      uniforms: U ~ Uniform[0, 1), shape [..., A].

    Returns:
      int64 array, shape [...].

    Examples:
      >>> int(gumbel_max_sample(np.array([0.0, 50.0]), np.array([0.5, 0.5])))
      1
    """
    return np.argmax(logits + gumbel_noise(uniforms), axis=-1)


def gumbel_noise(uniforms: np.ndarray) -> np.ndarray:
    """Standard Gumbel noise −log(−log U) from uniforms U ∈ [0, 1), same shape."""
    # U = 0 (possible from Generator.random) would give log(0); the clamp changes nothing else
    return -np.log(-np.log(np.maximum(uniforms, 1e-300)))


def normal_noise(uniforms: np.ndarray) -> np.ndarray:
    """Standard normals by Box-Muller: uniforms [..., 2m] → normals [..., m]."""
    half = uniforms.shape[-1] // 2
    radius = np.sqrt(-2.0 * np.log1p(-uniforms[..., :half]))
    return radius * np.cos(2.0 * np.pi * uniforms[..., half:])


def one_hot(a: np.ndarray, n_actions: int) -> np.ndarray:
    """One-hot encoding of integer actions, float64, shape [..., n_actions]."""
    a = np.asarray(a)
    return (a[..., None] == np.arange(n_actions)).astype(np.float64)


# Kernels without argument checks, for callers that have already validated their inputs
# (the policies' per-step paths). They take float64 arrays of at least one axis.


def softmax_unchecked(logits: np.ndarray) -> np.ndarray:
    """`softmax` without argument checks."""
    shifted = np.exp(logits - last_axis_max(logits))
    shifted /= last_axis_sum(shifted)
    return shifted


def log_softmax_unchecked(logits: np.ndarray) -> np.ndarray:
    """`log_softmax` without argument checks."""
    shifted = logits - last_axis_max(logits)
    return shifted - np.log(last_axis_sum(np.exp(shifted)))


# NumPy reduces a short last axis one row at a time; for many rows of a few actions it is
# ~4x faster to combine whole columns. Below 8 items NumPy sums one after another too, so
# both orders give the same bits.
_FEW_ACTIONS, _MANY_ROWS = 8, 4096


def last_axis_max(x: np.ndarray) -> np.ndarray:
    """x.max(axis=-1, keepdims=True), shape [..., 1]."""
    if x.shape[-1] >= _FEW_ACTIONS or x.size < _MANY_ROWS * x.shape[-1] or x.shape[-1] == 0:
        return x.max(axis=-1, keepdims=True)
    largest = x[..., 0].copy()
    for column in range(1, x.shape[-1]):
        np.maximum(largest, x[..., column], out=largest)
    return largest[..., None]


def last_axis_sum(x: np.ndarray) -> np.ndarray:
    """x.sum(axis=-1, keepdims=True), shape [..., 1], with the same bits as NumPy's."""
    if x.shape[-1] >= _FEW_ACTIONS or x.size < _MANY_ROWS * x.shape[-1] or x.shape[-1] == 0:
        return x.sum(axis=-1, keepdims=True)
    total = x[..., 0].copy()
    for column in range(1, x.shape[-1]):
        total += x[..., column]
    return total[..., None]
