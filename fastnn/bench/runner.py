"""``fastnn bench``: run the benchmark suite under pytest-benchmark, save the JSON.

The suite (:mod:`fastnn.bench.suite`) ships inside the package, so this works
from an installed fastnn too; it needs pytest and pytest-benchmark
(``pip install "fastnn[bench]"``).  The run is isolated from any project
configuration (``-c`` an empty file) and writes no cache.  pytest's progress
letters give way to :class:`fastnn.bench.progress.Progress`; a selection
(``-k`` or extra pytest arguments) that leaves no benchmark is refused before
anything runs or any file is written.
"""

import contextlib
import io
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
    threads : sequence of int, optional
        Thread counts (default: 1 and all cores).
    dtypes : sequence of str, optional
        Dtypes (default: float32 and float64).
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
            "-o", "console_output_style=classic",
            "--fastnn-plan", plan, "--benchmark-max-time", str(max_time),
            "--benchmark-min-rounds", str(min_rounds), "--benchmark-quiet"]
    if out:
        args += ["--benchmark-json", str(out)]
    if threads:
        args += ["--fastnn-threads", ",".join(map(str, threads))]
    if dtypes:
        args += ["--fastnn-dtypes", ",".join(dtypes)]
    if select:
        args += ["-k", select]
    return args + list(extra)


class _Selection:
    """pytest plugin of a collect-only pass: the benchmarks selected and deselected."""

    def __init__(self):
        self.selected = 0
        self.deselected = 0

    def pytest_deselected(self, items):
        self.deselected += len(items)

    def pytest_collection_finish(self, session):
        self.selected = len(session.items)


def empty_selection(plan, threads, dtypes, select, extra):
    """The error message when ``select`` and ``extra`` leave no benchmark, else None.

    Collects the suite with pytest's report thrown away (no test runs, no
    file is written).

    Parameters
    ----------
    plan, threads, dtypes, select, extra
        See :func:`pytest_arguments`.

    Returns
    -------
    str or None
    """
    import pytest
    selection = _Selection()
    with contextlib.redirect_stdout(io.StringIO()):   # and no .benchmarks folder:
        pytest.main(pytest_arguments(plan, None, threads, dtypes, select, extra)
                    + ["--collect-only", "--benchmark-storage", "file://" + os.devnull],
                    plugins=[selection])
    if selection.selected or not selection.deselected:
        return None     # a selection, or a collection error that the run will report
    what = "-k %r" % select if select else "the pytest arguments %r" % " ".join(extra)
    return ("%s: none of the %d benchmarks of the %s plan match; expected a pytest -k "
            "expression over their keys, e.g. 'dense_forward and float32'"
            % (what, selection.deselected, plan))


def run(plan="full", out=None, threads=None, dtypes=None, select=None, extra=(), summary=True,
        progress="auto"):
    """Run the suite and save pytest-benchmark's JSON.

    Parameters
    ----------
    plan, out, threads, dtypes, select, extra
        See :func:`pytest_arguments`; ``out`` defaults to
        ``fastnn-bench-<plan>-<date>-<time>.json`` in the working directory.
    summary : bool
        Print the table of :mod:`fastnn.bench.compare` for the run afterwards.
    progress : {'auto', 'bar', 'lines', 'none'}
        How progress is shown on standard error
        (:class:`fastnn.bench.progress.Progress`).

    Returns
    -------
    int
        pytest's exit status (0 when every benchmark passed its check and
        ran), or 2, after one line on standard error, when the benchmark
        requirements are missing or the selection leaves no benchmark.
    """
    missing = missing_requirements()
    if missing:
        print("fastnn bench needs %s: pip install \"fastnn[bench]\""
              % " and ".join(missing), file=sys.stderr)
        return 2
    import pytest

    from fastnn.bench.progress import Progress
    if select or extra:
        error = empty_selection(plan, threads, dtypes, select, extra)
        if error:
            print("fastnn bench: error: %s" % error, file=sys.stderr)
            return 2
    out = out or time.strftime("fastnn-bench-%s-%%Y%%m%%d-%%H%%M%%S.json" % plan)
    started = time.perf_counter()
    status = pytest.main(pytest_arguments(plan, out, threads, dtypes, select, extra),
                         plugins=[Progress(style=progress)])
    elapsed = time.perf_counter() - started
    if os.path.exists(out) and not os.path.getsize(out):
        os.remove(out)      # opened by pytest-benchmark, never written: the run stopped early
    if os.path.exists(out):
        print("fastnn bench: %s plan, %.0f s; results in %s" % (plan, elapsed, out))
        if summary:
            from fastnn.bench import compare
            compare.run([out], file=sys.stdout)
    return int(status)
