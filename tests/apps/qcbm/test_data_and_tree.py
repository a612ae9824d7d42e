"""Data sets and the Chow-Liu tree of the Born-machine app."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qdiff.apps.qcbm import (
    bars_and_stripes,
    chow_liu_tree,
    dataset,
    empirical,
    gaussian_mixture,
    mutual_information,
    valid_images,
)
from qdiff.apps.qcbm.data import Distribution


def _is_bar_or_stripe(bits: np.ndarray, rows: int, cols: int) -> bool:
    image = bits.reshape(rows, cols)  # pixel r * cols + c at (r, c)
    return bool((image == image[:, :1]).all() or (image == image[:1, :]).all())


@pytest.mark.parametrize("rows, cols", [(1, 3), (2, 2), (2, 3), (3, 3), (3, 4)])
def test_bars_and_stripes_has_exactly_the_valid_images(rows, cols):
    data = bars_and_stripes(rows, cols)
    n = rows * cols
    brute = [x for x in range(2**n) if _is_bar_or_stripe((x >> np.arange(n)) & 1, rows, cols)]
    assert np.flatnonzero(data.valid).tolist() == brute
    assert len(brute) == 2**rows + 2**cols - 2
    assert np.allclose(data.probs[data.valid], 1 / len(brute)) and data.probs[~data.valid].sum() == 0
    assert data.num_bits == n and data.shape == (rows, cols)


def test_pixel_k_is_bit_k_row_major():
    images = valid_images(bars_and_stripes(2, 3))
    # the stripe "top row on" lights pixels 0, 1, 2 = bits 0, 1, 2 (integer 7)
    assert [1, 1, 1, 0, 0, 0] in images.tolist()
    assert [1, 0, 0, 1, 0, 0] in images.tolist()  # the bar "left column on": pixels 0 and 3


def test_gaussian_mixture_is_normalised_and_peaks_at_the_means():
    data = gaussian_mixture(10, [2 * 1024 / 7, 5 * 1024 / 7], 1024 / 8)
    assert data.encoding == "integer" and abs(data.probs.sum() - 1) < 1e-12
    left, right = data.probs[:512], data.probs[512:]
    # each peak sits at its mean, pulled by at most a few units towards the other component's tail
    assert abs(int(np.argmax(left)) - 2 * 1024 / 7) <= 3 and abs(512 + int(np.argmax(right)) - 5 * 1024 / 7) <= 3
    assert data.probs[293] > data.probs[250] and data.probs[731] > data.probs[780]
    assert dataset("mixture10").probs.tolist() == data.probs.tolist()


def test_empirical_from_integers_bits_and_bitstrings_agree():
    ints = np.array([0, 5, 5, 3])
    bits = (ints[:, None] >> np.arange(3)) & 1
    strings = ["000", "101", "101", "011"]
    a, b, c = empirical(ints, 3), empirical(bits, 3), empirical(strings, 3)
    assert a.probs.tolist() == b.probs.tolist() == c.probs.tolist() == [0.25, 0, 0, 0.25, 0, 0.5, 0, 0]


@pytest.mark.parametrize("bad, message", [
    (lambda: dataset("bas0x3"), "rows >= 1"),
    (lambda: dataset("mnist"), "unknown dataset 'mnist'"),
    (lambda: empirical([9], 3), "0..7"),
    (lambda: empirical(["01"], 3), "3 characters"),
    (lambda: gaussian_mixture(4, [1.0], 0.0), "positive"),
])
def test_bad_data_arguments_are_explained(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_mutual_information_matches_a_direct_formula():
    rng = np.random.default_rng(3)
    probs = rng.random(2**4)
    probs /= probs.sum()
    data = Distribution("random", probs)
    bits = (np.arange(16)[:, None] >> np.arange(4)) & 1
    mi = mutual_information(data)
    for i, j in itertools.combinations(range(4), 2):
        joint = np.array([[probs[(bits[:, i] == a) & (bits[:, j] == b)].sum() for b in (0, 1)] for a in (0, 1)])
        expected = sum(joint[a, b] * np.log(joint[a, b] / (joint[a].sum() * joint[:, b].sum()))
                       for a in (0, 1) for b in (0, 1))
        assert mi[i, j] == pytest.approx(expected, abs=1e-12) and mi[j, i] == mi[i, j]


def test_chow_liu_recovers_a_known_tree():
    # a Markov tree 0-1, 1-2, 1-3, 3-4: each child copies its parent with probability 0.9
    edges = [(0, 1), (1, 2), (1, 3), (3, 4)]
    probs = np.zeros(2**5)
    for x in range(2**5):
        b = [(x >> k) & 1 for k in range(5)]
        p = 0.5
        for parent, child in edges:
            p *= 0.9 if b[parent] == b[child] else 0.1
        probs[x] = p
    tree = chow_liu_tree(Distribution("tree", probs / probs.sum()), seed=4)
    assert {frozenset(e) for e in tree} == {frozenset(e) for e in edges}
    assert chow_liu_tree(bars_and_stripes(3, 3), seed=2018) == [(4, 3), (0, 2), (8, 6), (1, 4), (8, 7), (0, 3),
                                                               (6, 3), (5, 4)]  # the circuits/ corpus tree
    # the default: the same undirected tree, each edge pointing away from bit 0
    default = chow_liu_tree(Distribution("tree", probs / probs.sum()))
    assert default == [(0, 1), (1, 2), (1, 3), (3, 4)]


def test_default_tree_of_bars_and_stripes_is_the_comb_directed_away_from_bit_0():
    """Ties go to the lowest pairs: bit 0 to the rest of its row (1, 2) and column (3, 6), then each
    of 1 and 2 down its column; every control is the parent (nearer bit 0)."""
    tree = chow_liu_tree(bars_and_stripes(3, 3))
    assert tree == [(0, 1), (0, 2), (0, 3), (0, 6), (1, 4), (1, 7), (2, 5), (2, 8)]
    assert tree == chow_liu_tree(bars_and_stripes(3, 3))  # deterministic
    mi = mutual_information(bars_and_stripes(3, 3))
    seeded = chow_liu_tree(bars_and_stripes(3, 3), seed=5)
    assert sum(mi[a, b] for a, b in tree) == pytest.approx(sum(mi[a, b] for a, b in seeded))  # both maximal
