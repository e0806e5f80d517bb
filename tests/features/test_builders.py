import math
import re

import gymnasium as gym
import numpy as np
import pytest

from gradlogpi.check import compare_scores
from gradlogpi.errors import ShapeError
from gradlogpi.features import (
    RBF,
    ActionBlock,
    Fourier,
    OneHot,
    Polynomial,
    Stacked,
    TileCoder,
    box_bounds,
)
from gradlogpi.policies import LinearSoftmaxPolicy, MatrixSoftmaxPolicy

UNIT = ([0.0, 0.0], [1.0, 1.0])


# --- tile coding ---------------------------------------------------------------------------


def test_tiles_hand_computed_case():
    # 2 tilings of 2 tiles over [0, 1]; tiling 1 is shifted by half a tile, 3 tiles each.
    # s = 0.3: u = 0.6 → tiling 0 tile 0 (index 0), tiling 1 floor(1.1) = 1 (index 3 + 1)
    # s = 0.8: u = 1.6 → tiling 0 tile 1 (index 1), tiling 1 floor(2.1) = 2 (index 3 + 2)
    coder = TileCoder([0.0], [1.0], n_tilings=2, tiles_per_dim=2)
    np.testing.assert_array_equal(coder.active(np.array([[0.3], [0.8]])), [[0, 4], [1, 5]])
    assert coder.n_features == 6


def test_tiles_asymmetric_offsets():
    coder = TileCoder(*UNIT, n_tilings=4, tiles_per_dim=4)
    # dimension 0 moves by 1/4 of a tile per tiling, dimension 1 by 3/4
    np.testing.assert_allclose(coder.offsets[:, 0], [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(coder.offsets[:, 1], [0, 0.75, 0.5, 0.25])


def test_tiles_near_points_share_most_and_far_points_none(rng):
    coder = TileCoder(*UNIT, n_tilings=8, tiles_per_dim=8)
    base = rng.uniform(0.2, 0.8, size=(50, 2))
    near = base + 0.01
    shared = (coder.active(base) == coder.active(near)).sum(axis=-1)
    assert shared.min() >= 6  # a 1/100 shift crosses at most ~1.6 of 8 tile boundaries on average
    far = coder.active(np.array([[0.05, 0.05]]))
    other = coder.active(np.array([[0.9, 0.9]]))
    assert np.intersect1d(far, other).size == 0


def test_tiles_hashed_table_stays_in_size_and_counts_collisions(rng):
    coder = TileCoder(*UNIT, n_tilings=8, tiles_per_dim=8, table_size=64)
    indices = coder.active(rng.random((2000, 2)))
    assert indices.min() >= 0 and indices.max() < 64
    assert coder.n_features == 64
    # 8 · 81 = 648 distinct tiles cannot fit 64 slots
    assert coder.collisions > 0
    assert coder.table_fill == 64
    roomy = TileCoder(*UNIT, n_tilings=2, tiles_per_dim=2, table_size=2**20)
    roomy.active(rng.random((100, 2)))
    assert roomy.collisions == 0


def test_tiles_integer_dimension_is_exact():
    coder = TileCoder([0.0, 0.0], [1.0, 2.0], n_tilings=2, tiles_per_dim=2, integer_dims=(1,))
    coordinates = coder.coordinates(np.array([0.3, 2.0]))
    np.testing.assert_array_equal(coordinates[:, 1], [2, 2])


@pytest.mark.parametrize("table_size", [None, 512])
@pytest.mark.parametrize("form", ["linear", "matrix"])
def test_tiles_sparse_equals_dense(rng, table_size, form):
    coder = TileCoder(*UNIT, n_tilings=4, tiles_per_dim=4, table_size=table_size)

    class DenseView:
        """The same coder seen as an ordinary dense builder."""

        sparse = False
        n_features = coder.n_features
        observation_shape = coder.observation_shape

        def __call__(self, obs):
            return coder(obs)

    def make(features):
        if form == "linear":
            return LinearSoftmaxPolicy(ActionBlock(features, 3))
        return MatrixSoftmaxPolicy(features, 3)

    sparse, dense = make(coder), make(DenseView())
    theta = rng.normal(size=sparse.n_parameters)
    sparse.set_flat(theta)
    dense.set_flat(theta)
    obs = rng.random((6, 2))
    a = rng.integers(3, size=6)
    np.testing.assert_allclose(sparse.probabilities(obs), dense.probabilities(obs), rtol=1e-13)
    np.testing.assert_allclose(sparse.score(obs, a), dense.score(obs, a), rtol=1e-13, atol=1e-15)
    sparse.ascend(obs, a, 0.1)
    dense.ascend(obs, a, 0.1)
    np.testing.assert_allclose(sparse.get_flat(), dense.get_flat(), rtol=1e-13, atol=1e-15)


# --- Fourier, RBF, polynomial --------------------------------------------------------------


def test_fourier_known_values_at_corners_and_centre():
    features = Fourier(*UNIT, order=1)
    assert features.n_features == 4  # c ∈ {(0,0), (0,1), (1,0), (1,1)}
    np.testing.assert_allclose(features(np.array([0.0, 0.0])), [1, 1, 1, 1])
    np.testing.assert_allclose(features(np.array([1.0, 1.0])), [1, -1, -1, 1], atol=1e-15)
    np.testing.assert_allclose(features(np.array([1.0, 0.0])), [1, 1, -1, -1], atol=1e-15)
    np.testing.assert_allclose(features(np.array([0.5, 0.5])), [1, 0, 0, -1], atol=1e-15)


@pytest.mark.parametrize(("order", "k"), [(0, 1), (3, 2), (2, 3), (4, 4)])
def test_fourier_count(order, k):
    assert Fourier(np.zeros(k), np.ones(k), order).n_features == (order + 1) ** k


def test_rbf_peaks_at_centres_and_is_symmetric():
    features = RBF(*UNIT, centres_per_dim=3, width=0.3)
    values = features(features.centres)  # each centre evaluated
    np.testing.assert_allclose(np.diag(values), 1.0)
    assert np.all(values <= 1.0)
    centre = np.array([0.5, 0.5])
    index = int(np.argmin(np.abs(features.centres - centre).sum(-1)))
    for offset in ([0.1, 0.0], [0.2, -0.15]):
        plus = features(centre + np.array(offset))[index]
        minus = features(centre - np.array(offset))[index]
        assert plus == pytest.approx(minus, rel=1e-14)
    assert features(centre + np.array([0.3, 0.0]))[index] == pytest.approx(math.exp(-0.5))


def test_polynomial_counts_and_values():
    with_cross = Polynomial(np.zeros(3), np.ones(3), degree=2)
    assert with_cross.n_features == math.comb(3 + 2, 2)
    without = Polynomial(np.zeros(3), np.ones(3), degree=2, interactions=False)
    assert without.n_features == 1 + 3 * 2
    s = np.array([0.5, 0.2, 1.0])
    np.testing.assert_allclose(without(s), [1, 0.5, 0.2, 1.0, 0.25, 0.04, 1.0])
    values = dict(zip(map(tuple, with_cross.exponents), with_cross(s), strict=True))
    assert values[(1, 1, 0)] == pytest.approx(0.1)
    assert values[(0, 0, 0)] == 1.0
    scaled = Polynomial([-2.0], [2.0], degree=2)
    np.testing.assert_allclose(scaled(np.array([0.0])), [1, 0.5, 0.25])


def test_stacked_features_are_the_seeds_form():
    stacked = Stacked(OneHot(1), n_actions=2)
    np.testing.assert_array_equal(stacked(0), [[1, 0], [1, 1]])
    policy = LinearSoftmaxPolicy(stacked, theta0=[5.0, 0.3])
    # the state part is common to both actions: it cancels in the score
    assert policy.score(0, 0)[0] == 0.0


FAMILIES = {
    "onehot": lambda: (OneHot(4), np.array([0, 3, 1])),
    "polynomial": lambda: (
        Polynomial(*UNIT, degree=2),
        np.array([[0.1, 0.9], [0.5, 0.5], [0.3, 0.2]]),
    ),
    "fourier": lambda: (Fourier(*UNIT, order=2), np.array([[0.1, 0.9], [0.5, 0.5], [0.3, 0.2]])),
    "rbf": lambda: (RBF(*UNIT, centres_per_dim=3), np.array([[0.1, 0.9], [0.5, 0.5], [0.3, 0.2]])),
    "tiles": lambda: (TileCoder(*UNIT, 4, 4), np.array([[0.1, 0.9], [0.5, 0.5], [0.3, 0.2]])),
    "tiles-hashed": lambda: (
        TileCoder(*UNIT, 4, 4, table_size=128),
        np.array([[0.1, 0.9], [0.5, 0.5], [0.3, 0.2]]),
    ),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("form", ["linear-block", "linear-stacked", "matrix"])
def test_gradient_check_for_every_family_and_form(rng, family, form):
    state_features, obs = FAMILIES[family]()
    if form == "matrix":
        policy = MatrixSoftmaxPolicy(state_features, 3)
    elif form == "linear-block":
        policy = LinearSoftmaxPolicy(ActionBlock(state_features, 3))
    else:
        policy = LinearSoftmaxPolicy(Stacked(state_features, 3, action_encoding="onehot"))
    policy.set_flat(rng.normal(size=policy.n_parameters))
    check = compare_scores(policy, obs, np.array([2, 0, 1]))
    assert check.passed(rtol=1e-6), check


# --- bad input -----------------------------------------------------------------------------


def test_unbounded_dimension_is_named():
    space = gym.make("CartPole-v1").observation_space
    with pytest.raises(
        ValueError, match=re.escape("observation dimension 1 is unbounded (low=-inf, high=inf)")
    ):
        Fourier.from_space(space, order=2)
    low, high = box_bounds(space, bounds={1: (-3, 3), 3: (-3.5, 3.5)})
    assert np.all(np.isfinite(low)) and high[1] == 3.0
    coder = TileCoder.from_space(space, bounds={1: (-3, 3), 3: (-3.5, 3.5)})
    assert coder.active(np.zeros(4)).shape == (8,)


def test_wrong_observation_shape_is_named():
    features = Fourier(*UNIT, order=1)
    with pytest.raises(
        ShapeError,
        match=re.escape("`obs` must have shape [..., 2] (observation_shape=(2,)); got (3,)"),
    ):
        features(np.zeros(3))


def test_out_of_bounds_observations_are_clipped():
    features = RBF(*UNIT, centres_per_dim=2)
    np.testing.assert_array_equal(features(np.array([5.0, -5.0])), features(np.array([1.0, 0.0])))
    coder = TileCoder(*UNIT, 2, 2)
    np.testing.assert_array_equal(
        coder.active(np.array([9.0, 9.0])), coder.active(np.array([1.0, 1.0]))
    )


def test_nonfinite_observation_rejected():
    with pytest.raises(ValueError, match=re.escape("`obs` must be finite; got nan")):
        Fourier(*UNIT, order=1)(np.array([np.nan, 0.0]))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Polynomial(*UNIT, degree=-1), "`degree` must be an int >= 0; got -1"),
        (lambda: Fourier(*UNIT, order=-2), "`order` must be an int >= 0; got -2"),
        (lambda: TileCoder(*UNIT, n_tilings=0), "`n_tilings` must be an int >= 1; got 0"),
        (lambda: RBF(*UNIT, width=0.0), "`width` must be finite and > 0; got [0. 0.]"),
        (lambda: Fourier([0.0], [0.0], 1), "`high` must exceed `low` in every dimension"),
        (lambda: OneHot(3)(np.array([3])), "`obs` must be a state index in [0, 3); got 3"),
    ],
)
def test_bad_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_tiles_remembered_answers_follow_the_observations_not_the_array(rng):
    coder = TileCoder(*UNIT, n_tilings=4, tiles_per_dim=4, table_size=64)
    obs = rng.random((3, 2))
    first = coder.active(obs)
    assert not first.flags.writeable  # shared with later callers, so nobody may change it
    obs[:] = rng.random((3, 2))  # the same array, new contents: a fresh answer
    second = coder.active(obs)
    fresh = TileCoder(*UNIT, n_tilings=4, tiles_per_dim=4, table_size=64)
    np.testing.assert_array_equal(second, fresh.active(obs.copy()))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(coder.active(obs.copy()), second)
