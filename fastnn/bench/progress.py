"""Progress of ``fastnn bench``: benchmarks done / total, elapsed time, the one running.

:class:`Progress` is a pytest plugin that ``fastnn bench``
(:mod:`fastnn.bench.runner`) registers in place of pytest's dots.  On a
terminal it redraws one line on standard error::

    bench [=========>....................] 12/87  0:34  kernel/dense_forward/784x30-sigmoid/b10/float32/1t/fastnn

elsewhere (a log, a pipe) it prints one plain line per finished benchmark::

    [12/87] 0:34 kernel/dense_forward/784x30-sigmoid/b10/float32/1t/fastnn passed

pytest's own report of a failure is kept; only its progress letters go.
"""

import sys
import time

import pytest

from fastnn._progress import LineBar, is_terminal


def _clock(seconds):
    """``m:ss`` (or ``h:mm:ss``) of a duration."""
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return "%d:%02d:%02d" % (hours, minutes, seconds) if hours else "%d:%02d" % (minutes,
                                                                                 seconds)


def benchmark_name(nodeid):
    """The benchmark's key from a pytest node id (its parameter id), else the node id.

    ``suite.py::test_kernel[kernel/dense_forward/20x8-sigmoid/b4/float32/1t/fastnn]``
    gives ``kernel/dense_forward/20x8-sigmoid/b4/float32/1t/fastnn``.
    """
    start = nodeid.find("[")
    return nodeid[start + 1:-1] if start >= 0 and nodeid.endswith("]") else nodeid


class BenchBar(LineBar):
    """The terminal line: bar, done/total, elapsed time, the benchmark running, failures."""

    def __init__(self, total, file=None, enabled=None):
        super().__init__(total, file, enabled)
        self.current = None
        self.failed = 0

    def _line(self, now):
        parts = ["bench " + super()._line(now)]
        if not self._closed:    # close appends the elapsed seconds itself
            parts.append(_clock(now - self._start))
        if self.failed:
            parts.append("%d failed" % self.failed)
        if self.current and not self._closed:
            parts.append(self.current)
        return "  ".join(parts)


class Progress:
    """pytest plugin: the progress of a benchmark run.

    Parameters
    ----------
    file : file-like, optional
        Where to write (default: ``sys.stderr`` when the plugin is created).
    style : {'auto', 'bar', 'lines', 'none'}, default 'auto'
        ``'bar'``: redraw one line (:class:`BenchBar`); ``'lines'``: one
        plain line per finished benchmark; ``'none'``: nothing (pytest's
        letters stay off too); ``'auto'``: the bar when ``file`` is a
        terminal, else lines.

    Attributes
    ----------
    total : int
        Benchmarks selected (known once collection ends).
    done : int
        Benchmarks finished, whatever their outcome.
    """

    STYLES = ("auto", "bar", "lines", "none")

    def __init__(self, file=None, style="auto"):
        if style not in self.STYLES:
            raise ValueError("style must be one of %s, got %r" % (", ".join(self.STYLES), style))
        self.file = sys.stderr if file is None else file
        if style == "auto":
            style = "bar" if is_terminal(self.file) else "lines"
        self.style = style
        self.total = 0
        self.done = 0
        self._line = None
        self._outcome = "passed"
        self._start = time.perf_counter()

    def pytest_collection_finish(self, session):
        self.total = len(session.items)
        self._start = time.perf_counter()
        if self.style == "bar" and self.total:
            self._line = BenchBar(self.total, self.file, enabled=True)

    def pytest_runtest_logstart(self, nodeid, location):
        self._outcome = "passed"
        if self._line is not None:
            self._line.current = benchmark_name(nodeid)
            self._line.update(self.done)

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self._outcome = "error" if report.when != "call" else "failed"
        elif report.skipped:
            self._outcome = "skipped"
        if report.when != "teardown":
            return
        self.done += 1
        if self._line is not None:
            self._line.failed += self._outcome in ("failed", "error")
            self._line.update(self.done)
        elif self.style == "lines":
            print("[%*d/%d] %s %s %s" % (len(str(self.total)), self.done, self.total,
                                         _clock(time.perf_counter() - self._start),
                                         benchmark_name(report.nodeid), self._outcome),
                  file=self.file, flush=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report, config):
        # Keep the category (pytest counts outcomes by it), drop the letter and word.
        category, _, _ = yield
        return category, "", ""

    def pytest_sessionfinish(self, session):
        if self._line is not None:
            self._line.current = None
            self._line.close()
