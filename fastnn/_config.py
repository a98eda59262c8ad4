"""Threads, denormals and build facts: ``set_num_threads``, ``get_num_threads``,
``flush_denormals``, ``show_config``.

fastnn uses two thread pools, one at a time: its own OpenMP pool (elementwise
passes, column sums, optimizer updates) and the pool of the BLAS library that
SciPy's ``cython_blas`` calls (matrix products).  ``set_num_threads`` limits
both; threadpoolctl's ``threadpool_limits`` limits both as well, since it finds
the same OpenMP runtime and BLAS library.

The default thread count is the number of CPUs this process may use
(``fastnn._cpus.available_cpus``: its affinity mask and its cgroup's CPU
quota), unless ``OMP_NUM_THREADS`` says otherwise (joblib's workers get it
set to their share of the cores); it is a process-wide cap on fastnn's
parallel regions (``_parallel.max_threads``), so threads that Python starts
later get it too.

Training adapts to a busy machine: between its runs of batches (about 0.1 s
each, fastnn/_interrupt.py) ``fit`` measures how many CPUs other processes
kept busy over the last quarter second or more (the first decision: a
twentieth; ``fastnn._cpus.OtherLoad``); when they hold some, it times runs
with the threads they left free (``_cpus.threads_beside``) and with all, and
keeps all only if clearly faster, for a few seconds or, confirmed, longer
(:class:`_LoadAdaptation`).  Results are
the same bits for any thread count, so the choice changes speed only.
``set_num_threads(n, adaptive=False)`` keeps ``n`` regardless.

Fork: a child forked after fastnn's OpenMP threads started has an OpenMP
runtime whose threads did not survive the fork, and whose next team would
wait for them forever.  So in a forked child fastnn runs every kernel on one
thread (``os.register_at_fork``), as PyTorch does with its own pool;
``set_num_threads`` there warns and keeps 1.  Results are the same bits as
with more threads.  Processes started with the ``spawn`` or ``forkserver``
methods are not affected.
"""

import contextlib
import ctypes
import itertools
import os
import platform
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import scipy
from threadpoolctl import ThreadpoolController

from fastnn._kernels import _blas  # noqa: F401  (loads SciPy's BLAS before we look for it)
from fastnn._cpus import OtherLoad, available_cpus, threads_beside
from fastnn._isa import available_isas, get_isa
from fastnn._kernels import _cpu, _parallel
from fastnn._version import __version__

try:
    from fastnn._build_config import BUILD_CONFIG
except ImportError:  # pragma: no cover - setup.py always writes it
    BUILD_CONFIG = {}


#: Upper bound for set_num_threads: far above any core count, far below what
#: would exhaust the process creating threads.
MAX_THREADS = 4096


def _blas_controllers():
    """threadpoolctl controllers of the BLAS library that fastnn's kernels call.

    That is the one SciPy links (its wheels vendor it next to the package); if
    none can be told apart that way, every BLAS library loaded is returned.
    """
    blas = ThreadpoolController().select(user_api="blas").lib_controllers
    scipy_root = os.path.dirname(os.path.realpath(scipy.__file__))
    owned = [c for c in blas
             if os.path.realpath(c.filepath).startswith(scipy_root)]  # scipy/ and scipy.libs/
    return owned or blas


def _blas_thread_functions():
    """Addresses of ``openblas_get_num_threads`` and ``openblas_set_num_threads``
    of the BLAS library fastnn's kernels call, or (0, 0).

    Only a pthreads OpenBLAS qualifies: its thread count is one process-wide
    setting that ``gemm`` can hold at one while it runs a product in fixed pieces
    (an OpenMP OpenBLAS would share fastnn's own OpenMP settings).
    """
    for controller in _blas_controllers():
        info = controller.info()
        if info.get("internal_api") != "openblas" or info.get("threading_layer") != "pthreads":
            continue
        for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
            try:
                get = getattr(controller.dynlib, "%sopenblas_get_num_threads%s" % (prefix, suffix))
                set_ = getattr(controller.dynlib, "%sopenblas_set_num_threads%s" % (prefix, suffix))
            except AttributeError:
                continue
            return (ctypes.cast(get, ctypes.c_void_p).value,
                    ctypes.cast(set_, ctypes.c_void_p).value)
    return 0, 0


_blas._set_blas_thread_functions(*_blas_thread_functions())


#: True in a process forked from one that imported fastnn (see the module's
#: docstring): every kernel runs on one thread.
_FORKED = False


def default_num_threads() -> int:
    """The thread count fastnn starts with: ``OMP_NUM_THREADS`` when it is a
    positive integer, else the CPUs this process may use (affinity mask and
    cgroup CPU quota, ``fastnn._cpus.available_cpus``).

    Returns
    -------
    int
    """
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if value.isdigit() and int(value) > 0:
        return min(int(value), MAX_THREADS)
    return available_cpus()


def _after_fork_in_child():
    global _FORKED
    _FORKED = True
    _parallel.set_process_limit(1)


_parallel.set_process_limit(default_num_threads())
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_num_threads() -> int:
    """Return the maximum number of threads fastnn's kernels may use.

    Returns
    -------
    int
        OpenMP's limit for the calling thread (``OMP_NUM_THREADS``,
        :func:`set_num_threads` and threadpoolctl all set it); in a build
        without OpenMP, the BLAS library's thread count.
    """
    if _parallel.openmp_enabled():
        return _parallel.get_max_threads()   # OpenMP's limit, capped by fastnn's
    controllers = _blas_controllers()
    return max((c.num_threads for c in controllers), default=1)


def set_num_threads(n: int, adaptive: bool = True) -> None:
    """Limit every thread pool fastnn uses to ``n`` threads.

    Sets the OpenMP limit (for parallel regions started from the calling
    thread) and the thread count of the BLAS library fastnn calls.  Each kernel
    still picks fewer threads when its work is too small to share, and
    training (``fit``) picks fewer while other processes keep the CPUs busy,
    unless ``adaptive`` is False.

    The limit is process-wide: it holds for kernels called from any Python
    thread.  In a process forked after fastnn was imported it stays 1 (with a
    warning when ``n`` > 1): the OpenMP threads did not survive the fork.

    Parameters
    ----------
    n : int
        Number of threads, 1 <= n <= 4096.
    adaptive : bool, default True
        Let training use fewer threads than ``n`` while other processes hold
        CPUs of this process (measured between runs of batches; the results
        are the same bits).  False: always ``n`` (to measure scaling).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError("n must be an integer >= 1, got %r" % (n,))
    if n > MAX_THREADS:
        raise ValueError("n must be at most %d, got %r" % (MAX_THREADS, n))
    if _FORKED and n > 1:
        warnings.warn("fastnn: this process was forked, and the OpenMP threads of its "
                      "parent did not survive the fork; fastnn stays on 1 thread (start "
                      "processes with the 'spawn' or 'forkserver' method to use more)",
                      RuntimeWarning, stacklevel=2)
        n = 1
    _parallel.set_max_threads(int(n))
    for controller in _blas_controllers():
        controller.set_num_threads(int(n))
    _ADAPTATION.enabled = bool(adaptive)


class _LoadAdaptation:
    """The thread count of training's runs of batches on a busy machine.

    One per process: ``begin(owner)`` at the start of a training loop (an
    epoch; ``owner``: the model it trains), ``next_run`` before each
    run of batches (sets ``_parallel``'s load limit), ``after_run`` after it
    (its samples and seconds), ``end`` when the loop stops (clears the limit,
    so other kernels are not capped).

    On a quiet machine every run gets all the threads fastnn may use.  When
    other processes kept CPUs busy over the last :data:`WINDOW_S` seconds or
    more, a thread of fastnn's would share a CPU and stall its team at every
    barrier, but the team may still beat one thread (a large product gains
    more from a second core's share than it loses waiting): the next runs
    alternate between the threads the load leaves free
    (``_cpus.threads_beside``) and all of them, :data:`TRIAL_RUNS` each (a
    run shorter than :data:`TRIAL_MIN_RUN_S` does not count: a fit's first
    runs are a batch or a few, too short to time under load), and all of
    them are kept only if their rate (samples per second over their runs)
    beats the fewer threads' by :data:`TRIAL_MARGIN`.  The margin is there
    because the fewer threads cannot collapse, and because under load a run's
    rate scatters: with one busy process per CPU, a single thread of fastnn's
    has a CPU to itself for a tenth of a second, then shares one, and its
    rate doubles or halves with it.  The choice is held for :data:`HOLD_S`
    seconds, twice as long each time a new trial under the same load confirms
    it (at most :data:`HOLD_MAX_S`); the load is measured meanwhile, and if
    the others leave enough CPUs free, all the threads return at once.  A
    trial runs across the loops of one owner (a model: its rates belong to one
    network; another model's loops on one thread, which do not adapt, leave
    it alone), the measuring window and the decision across all loops, unless
    none ran for :data:`STALE_S` seconds.  Loops running in several Python
    threads share the limit.
    """

    #: Shortest window (seconds) one load measurement covers; the first
    #: decision of a loop (none carried over) after FIRST_WINDOW_S (five
    #: ticks of /proc/stat per CPU: coarse, but LOAD_SLACK covers it).
    WINDOW_S = 0.25
    FIRST_WINDOW_S = 0.05
    #: After this long (seconds) without a training loop, a decision is measured anew.
    STALE_S = 2.0
    #: Runs of each candidate thread count in a trial under load.
    TRIAL_RUNS = 3
    #: A run shorter than this (seconds) does not count in a trial.
    TRIAL_MIN_RUN_S = 0.05
    #: All the threads are kept under load only if their rate beats the
    #: fewer threads' by this factor.
    TRIAL_MARGIN = 1.2
    #: How long (seconds) a trial's choice is first held, and at most.
    HOLD_S = 3.0
    HOLD_MAX_S = 24.0

    def __init__(self):
        self.enabled = True
        self._lock = threading.Lock()
        self._load = None          # OtherLoad, made on first use
        self._threads = 0          # the last decision (0: none)
        self._beside = 0           # the thread count the load left free at the last trial
        self._chosen = 0           # the last trial's choice
        self._hold_until = 0.0     # time.monotonic() until which it stands
        self._hold_s = self.HOLD_S
        self._trial = None         # under way: [owner, thread counts in run order,
        #                            (samples, seconds) of each run so far]
        self._owner = None         # the model the running loop trains
        self._timed = False        # whether the run under way is a trial's
        self._last_end = None      # time.monotonic() when the last loop ended

    def begin(self, owner=None):
        with self._lock:
            if self._load is None:
                self._load = OtherLoad()
            elif (self._last_end is not None
                  and time.monotonic() - self._last_end > self.STALE_S):   # idle: measure anew
                self._forget()
                self._load.restart()
            _parallel.set_load_limit(self._threads if self.enabled else 0)
            self._owner = owner

    def _forget(self):
        self._threads = self._beside = self._chosen = 0
        self._hold_until = 0.0
        self._hold_s = self.HOLD_S
        self._trial = None

    def next_run(self):
        with self._lock:
            self._timed = False            # whether after_run's rate counts in a trial
            if not self.enabled:
                _parallel.set_load_limit(0)
                return
            wanted = _parallel.get_max_threads(loaded=False)
            if wanted < 2:
                return
            if self._trial is not None and self._trial[0] is not self._owner:
                self._trial = None             # another model's loop: its rates differ
            if self._trial is not None:
                _, order, runs = self._trial
                _parallel.set_load_limit(order[len(runs)])
                self._timed = True
                return
            window = self.WINDOW_S if self._threads else self.FIRST_WINDOW_S
            if self._load.elapsed() < window:
                return
            others = self._load.measure()
            if others is None:
                return
            beside = threads_beside(others, available_cpus(), wanted)
            if beside >= wanted:                 # quiet enough: all threads, no trial
                self._forget()
                self._threads = wanted
            elif time.monotonic() >= self._hold_until:
                if beside != self._beside:       # another load than the last trial's
                    self._chosen = 0
                self._beside = beside
                self._trial = [self._owner, [beside, wanted] * self.TRIAL_RUNS, []]
                self._threads = beside
                self._timed = True
            _parallel.set_load_limit(self._threads)

    def after_run(self, samples, seconds):
        with self._lock:
            if not self._timed or self._trial is None or seconds < self.TRIAL_MIN_RUN_S:
                return
            _, order, runs = self._trial
            runs.append((samples, seconds))
            if len(runs) < len(order):
                return
            fewer, more = sorted(set(order))
            rate = {t: (sum(n for c, (n, _) in zip(order, runs) if c == t)
                        / sum(s for c, (_, s) in zip(order, runs) if c == t))
                    for t in (fewer, more)}
            chosen = more if rate[more] > self.TRIAL_MARGIN * rate[fewer] else fewer
            # confirmed under the same load: held twice as long as last time
            self._hold_s = (min(2 * self._hold_s, self.HOLD_MAX_S) if chosen == self._chosen
                            else self.HOLD_S)
            self._threads = self._chosen = chosen
            _parallel.set_load_limit(chosen)
            self._trial = None
            self._hold_until = time.monotonic() + self._hold_s

    def end(self):
        with self._lock:
            self._last_end = time.monotonic()
        _parallel.set_load_limit(0)


_ADAPTATION = _LoadAdaptation()


@contextlib.contextmanager
def load_adapted_threads(owner=None):
    """Context manager for a training loop: yields the process's
    :class:`_LoadAdaptation`, whose ``next_run()`` the loop calls before each
    run of batches and ``after_run(samples, seconds)`` after it.

    Parameters
    ----------
    owner : object, optional
        The model the loop trains: a trial of thread counts under load
        carries over to its next loop.
    """
    _ADAPTATION.begin(owner)
    try:
        yield _ADAPTATION
    finally:
        _ADAPTATION.end()


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero on the calling thread while the block runs.

    ``Sequential.fit`` and the kernels never flush on their own (their results
    stay bit-identical to the NumPy reference); the scikit-learn estimators
    flush during float32 'sgd' and 'adam' epochs, through this function.  But
    arithmetic on denormals (magnitudes below 1.2e-38 in float32, 2.2e-308 in
    float64) takes a slow microcode path on x86, and some trainings make many:
    scikit-learn's Adam with the L2 penalty drives the weights of never-lit
    MNIST pixels towards 0, their gradients ``alpha·W`` and their squares into
    the denormal range, and batch-1 training ran 4x slower here.  Inside this
    block the CPU reads denormal inputs as 0 and writes 0 for denormal results
    (x86-64 FTZ and DAZ); results then differ only where such tiny values
    arise.  The compiled training loop, its optimizer updates and fastnn's own
    matrix kernels are covered (the OpenMP threads that share a product take
    the calling thread's setting for it, BLAS-routed products included: they
    run on fastnn's threads, with the BLAS library held to one thread).
    On other CPUs the block runs unchanged.

    Examples
    --------
    >>> import fastnn
    >>> with fastnn.flush_denormals():
    ...     pass  # clf.fit(X, y)
    """
    old = _cpu.set_flush_denormals(True)
    try:
        yield
    finally:
        _cpu.set_flush_denormals(old)


def config() -> dict[str, Any]:
    """Return the facts ``show_config`` prints, as a dict (for benchmarks and bug reports).

    Returns
    -------
    dict
        Versions, threads, BLAS, CPU, build flags, and under ``"routes"`` where
        the active instruction-set path's product routes come from (``tuned``,
        the cache ``file``, a ``note``; see :func:`fastnn.tune`).
    """
    from fastnn import _routes   # imports this module
    blas = [
        {k: c.info().get(k) for k in
         ("internal_api", "version", "architecture", "threading_layer", "num_threads",
          "filepath")}
        for c in _blas_controllers()
    ]
    return {
        "fastnn": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "openmp": _parallel.openmp_enabled(),
        "openmp_reason": BUILD_CONFIG.get("openmp_reason", "unknown"),
        "num_threads": get_num_threads(),
        "adaptive_threads": _ADAPTATION.enabled,
        "cpu_count": os.cpu_count(),
        "available_cpus": available_cpus(),
        "blas": blas,
        "blas_thread_control": _blas.blas_threads_controlled(),
        "cpu": _cpu.cpu_brand() or platform.processor() or platform.machine(),
        "cpu_signature": "family %d model %d stepping %d" % _cpu.cpu_signature(),
        "simd": [name for name, has in _cpu.cpu_features().items() if has],
        "isa": get_isa(),
        "available_isas": available_isas(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE") or None,
        "routes": _routes.source(),
        "compiler": BUILD_CONFIG.get("compiler", "unknown"),
        "compile_args": BUILD_CONFIG.get("compile_args", []),
        "native": BUILD_CONFIG.get("native", False),
        "debug": BUILD_CONFIG.get("debug", False),
        "sanitize": BUILD_CONFIG.get("sanitize", False),
    }


def show_config(file: IO[str] | None = None) -> None:
    """Print how fastnn was built and what it runs on.

    Reports fastnn's version; whether OpenMP is compiled in and the thread
    count in use; the BLAS library fastnn calls and its kernel (and
    ``OPENBLAS_CORETYPE`` when set); the CPU, its SIMD features and the
    instruction-set path fastnn's kernels run (of those available); whether
    the routes of matrix products were measured on this CPU
    (:func:`fastnn.tune`) and from which file; the compiler and flags of the
    build.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default: standard output).
    """
    c = config()
    lines = [
        "fastnn %s (Python %s, NumPy %s, SciPy %s)" % (
            c["fastnn"], c["python"], c["numpy"], c["scipy"]),
        "OpenMP:    %s (%s)" % ("yes" if c["openmp"] else "no", c["openmp_reason"]),
        "threads:   %d in use (%s CPUs, %s available to this process)%s" % (
            c["num_threads"], c["cpu_count"], c["available_cpus"],
            "; fewer in fit while other processes hold CPUs" if c["adaptive_threads"]
            else "; fixed (adaptive=False)"),
    ]
    for b in c["blas"] or [{}]:
        lines.append("BLAS:      %s %s, kernel %s, %s threading, %s threads" % (
            b.get("internal_api", "unknown"), b.get("version", ""), b.get("architecture"),
            b.get("threading_layer"), b.get("num_threads")))
        if c["openblas_coretype"]:
            lines.append("           OPENBLAS_CORETYPE=%s" % c["openblas_coretype"])
        lines.append("           %s" % b.get("filepath", ""))
    lines.append("           products above 2^18 multiply-adds: %s" % (
        "fixed pieces on fastnn's threads, BLAS held to one thread (same bits for any "
        "thread count)" if c["blas_thread_control"] else
        "one BLAS call on the BLAS library's threads (bits may change with the thread count)"))
    lines += [
        "CPU:       %s (%s)" % (c["cpu"], c["cpu_signature"]),
        "SIMD:      %s" % (" ".join(c["simd"]) or "none detected"),
        "ISA path:  %s (available: %s)" % (c["isa"], ", ".join(c["available_isas"])),
        "routes:    %s path, %s" % (c["routes"]["isa"], (
            "tuned (%s)" % (c["routes"]["file"] or "in this process, not saved")
            if c["routes"]["tuned"] else c["routes"]["note"])),
        "compiler:  %s" % c["compiler"],
        "flags:     %s%s%s%s" % (" ".join(c["compile_args"]),
                               "  [FASTNN_NATIVE]" if c["native"] else "  [portable]",
                               "  [FASTNN_DEBUG]" if c["debug"] else "",
                               "  [FASTNN_SANITIZE]" if c["sanitize"] else ""),
    ]
    print("\n".join(lines), file=file or sys.stdout)
