"""Shared fixtures: dtypes, thread counts, tolerances, and the parity table.

Every comparison of a compiled kernel with the NumPy reference goes through
``assert_parity``, which records the largest error it saw per kernel and dtype;
the table is printed at the end of the run (the figures the issues ask for).
"""

import os
from collections import defaultdict

import numpy as np
import pytest

# The suite tests the default routes of matrix products, not the ones a user's
# `python -m fastnn tune` left in their cache (tests/test_routes.py loads
# tables of its own).
os.environ["FASTNN_ROUTES"] = "default"

import fastnn  # noqa: E402

#: Largest error relative to the largest magnitude: float64 / float32.
RTOL = {np.float64: 1e-12, np.float32: 1e-5}

_PARITY = defaultdict(float)  # (kernel, dtype name) -> largest relative error seen


def relative_error(actual, expected):
    """max |actual − expected| / max |expected| (0 when both are all zero)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    diff = np.max(np.abs(actual - expected)) if expected.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def assert_parity(kernel, actual, expected, dtype, exact=False):
    """Assert a compiled result matches the reference and record the error.

    ``exact`` demands bit-identical values (elementwise kernels); otherwise the
    error relative to the largest magnitude must be within ``RTOL[dtype]``.
    """
    assert np.shape(actual) == np.shape(expected), kernel
    assert np.asarray(actual).dtype == np.dtype(dtype) or np.ndim(actual) == 0, kernel
    err = relative_error(actual, expected)
    key = (kernel, np.dtype(dtype).name)
    _PARITY[key] = max(_PARITY[key], err)
    if exact:
        np.testing.assert_array_equal(actual, expected, err_msg=kernel)
    else:
        assert err <= RTOL[dtype], "%s: relative error %.3g > %.0e" % (kernel, err, RTOL[dtype])


def pytest_terminal_summary(terminalreporter):
    if not _PARITY:
        return
    terminalreporter.section("parity with the NumPy reference (largest error / max |reference|)")
    kernels = sorted({k for k, _ in _PARITY})
    terminalreporter.write_line("%-34s %12s %12s" % ("kernel", "float64", "float32"))
    for k in kernels:
        terminalreporter.write_line("%-34s %12.3g %12.3g" % (
            k, _PARITY.get((k, "float64"), float("nan")), _PARITY.get((k, "float32"), float("nan"))))


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def num_threads(request):
    """Run the test with fastnn limited to 1, then 2 threads."""
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(request.param)
    try:
        yield request.param
    finally:
        fastnn.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


@pytest.fixture(params=fastnn.available_isas())
def isa(request):
    """Run the test on each instruction-set path this CPU supports, then restore."""
    with fastnn.use_isa(request.param):
        yield request.param
