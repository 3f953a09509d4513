"""Input validation helpers."""

import numpy as np
import pytest

from scvi.dataset._checks import _scan, as_index


@pytest.mark.parametrize("chunk", [3, 7, 1 << 22])
def test_scan_finds_bad_values_in_any_chunk(chunk):
    clean = np.arange(20, dtype=np.float32).reshape(4, 5)
    assert _scan(clean, chunk) == (False, False, False)
    for position, value, expected in [
        (17, np.nan, (True, False, False)),
        (13, np.inf, (True, False, False)),
        (19, -1.0, (False, True, False)),
        (8, 2.5, (False, False, True)),
    ]:
        bad = clean.copy()
        bad.flat[position] = value
        assert _scan(bad, chunk) == expected
    ints = np.arange(10).reshape(2, 5) - 3
    assert _scan(ints, chunk) == (False, True, False)


def test_scan_reads_non_contiguous_arrays():
    X = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))
    X[2, 3] = 0.5
    assert _scan(X[:, 1:], 2) == (False, False, True)


def test_as_index():
    np.testing.assert_array_equal(as_index([True, False, True], 3, "m"), [0, 2])
    np.testing.assert_array_equal(as_index([[2], [-1]], 4, "m"), [2, 3])
    with pytest.raises(ValueError, match="m has positions outside"):
        as_index([4], 4, "m")
    with pytest.raises(ValueError, match="m has 2 entries"):
        as_index([True, False], 3, "m")
    with pytest.raises(ValueError, match="boolean mask or integer positions"):
        as_index([0.5], 3, "m")
