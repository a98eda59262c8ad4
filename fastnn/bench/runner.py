"""``python -m fastnn bench``: run the benchmark suite under pytest-benchmark, save the JSON.

The suite (:mod:`fastnn.bench.suite`) ships inside the package, so this works
from an installed fastnn too; it needs pytest and pytest-benchmark
(``pip install "fastnn[bench]"``).  The run is isolated from any project
configuration (``-c`` an empty file) and writes no cache.
"""

import os
import sys
import time

#: pytest-benchmark timing per plan: seconds per benchmark and minimum rounds.
TIMING = {"full": (0.25, 5), "quick": (0.03, 3), "tiny": (0.0005, 1)}


def missing_requirements():
    """Names of the packages ``bench`` needs that are not installed."""
    missing = []
    for module, package in (("pytest", "pytest"), ("pytest_benchmark", "pytest-benchmark")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    return missing


def pytest_arguments(plan="full", out=None, threads=None, dtypes=None, select=None,
                     extra=()):
    """The pytest command line of a run.

    Parameters
    ----------
    plan : {'full', 'quick', 'tiny'}
    out : str, optional
        Path of the JSON to write.
    threads : str, optional
        Comma-separated thread counts (default: 1 and all cores).
    dtypes : str, optional
        Comma-separated dtypes (default: float32,float64).
    select : str, optional
        pytest ``-k`` expression on the benchmark keys, e.g. ``"dense and float32"``.
    extra : sequence of str
        More pytest arguments, appended last (they override the above).

    Returns
    -------
    list of str
    """
    from fastnn.bench import suite
    max_time, min_rounds = TIMING[plan]
    args = [suite.__file__, "-p", "fastnn.bench.plugin", "-p", "no:cacheprovider",
            "-c", os.devnull, "--rootdir", os.path.dirname(suite.__file__), "-q",
            "--fastnn-plan", plan, "--benchmark-max-time", str(max_time),
            "--benchmark-min-rounds", str(min_rounds), "--benchmark-quiet"]
    if out:
        args += ["--benchmark-json", str(out)]
    if threads:
        args += ["--fastnn-threads", threads]
    if dtypes:
        args += ["--fastnn-dtypes", dtypes]
    if select:
        args += ["-k", select]
    return args + list(extra)


def run(plan="full", out=None, threads=None, dtypes=None, select=None, extra=(), summary=True):
    """Run the suite and save pytest-benchmark's JSON.

    Parameters
    ----------
    plan, out, threads, dtypes, select, extra
        See :func:`pytest_arguments`; ``out`` defaults to
        ``fastnn-bench-<plan>-<date>-<time>.json`` in the working directory.
    summary : bool
        Print the table of :mod:`fastnn.bench.compare` for the run afterwards.

    Returns
    -------
    int
        pytest's exit status (0 when every benchmark passed its check and ran).
    """
    missing = missing_requirements()
    if missing:
        print("python -m fastnn bench needs %s: pip install \"fastnn[bench]\""
              % " and ".join(missing), file=sys.stderr)
        return 2
    import pytest
    out = out or time.strftime("fastnn-bench-%s-%%Y%%m%%d-%%H%%M%%S.json" % plan)
    started = time.perf_counter()
    status = pytest.main(pytest_arguments(plan, out, threads, dtypes, select, extra))
    elapsed = time.perf_counter() - started
    if os.path.exists(out):
        print("fastnn bench: %s plan, %.0f s; results in %s" % (plan, elapsed, out))
        if summary:
            from fastnn.bench import compare
            compare.main([out, "--no-charts"], file=sys.stdout)
    return int(status)
