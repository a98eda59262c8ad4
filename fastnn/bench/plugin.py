"""pytest plugin of the benchmark suite: options, parametrization, machine info.

Loaded by ``python -m fastnn bench`` (``-p fastnn.bench.plugin``) and by
``benchmarks/conftest.py``.  Options:

``--fastnn-plan {full,quick,tiny}``
    Which cases (:data:`fastnn.bench.cases.PLANS`); default ``full``.
``--fastnn-threads 1,2``
    Thread counts; default 1 and all cores.
``--fastnn-dtypes float32,float64``
    Default both.

Each test of :mod:`fastnn.bench.suite` is parametrized by one
:class:`Bench` per (case, dtype, thread count, implementation), whose test id
is the benchmark's stable key (data-parallel benchmarks: one per case, which
names its rank count, dtype and threads per rank, fastnn only; see
:func:`fastnn.bench.cases.data_parallel_layouts`).  The JSON's
``machine_info["fastnn"]`` gets the machine and build
(:func:`fastnn.bench.machine.machine_info`: CPU, ISA path, GEMM routes, BLAS
core type, ...), the plan, the peak rate (:func:`fastnn.bench.peak.peak`) and
the GEMM probe's rate for each dtype and thread count, and the 1-minute load
average at the start and the end of the run.  The per-round timings are left
out of the JSON (the statistics stay).
"""

from dataclasses import dataclass

import pytest

from fastnn.bench import cases, jax_peer, machine, options, peak


@dataclass(frozen=True)
class Bench:
    """One benchmark: a case in one dtype, thread count and implementation.

    ``threads`` is per process: per rank for a data-parallel case.
    """

    group: str
    case: object
    dtype: str
    threads: int
    impl: str

    @property
    def key(self):
        """The stable key, see :func:`fastnn.bench.cases.key`."""
        return cases.key(self.group, self.case, self.dtype, self.threads, self.impl)


def pytest_addoption(parser):
    group = parser.getgroup("fastnn", "fastnn benchmark suite")
    group.addoption("--fastnn-plan", choices=sorted(cases.PLANS), default="full",
                    help="which cases to run (default: full)")
    group.addoption("--fastnn-threads", metavar="N,N",
                    help="thread counts (default: 1 and all cores)")
    group.addoption("--fastnn-dtypes", metavar="DTYPES", default=",".join(options.DTYPES),
                    help="dtypes (default: %s)" % ",".join(options.DTYPES))


def _settings(config):
    plan = config.getoption("fastnn_plan")
    threads = config.getoption("fastnn_threads")
    try:
        threads = options.parse_threads(threads) if threads else cases.default_threads()
    except ValueError as exc:
        raise pytest.UsageError("--fastnn-threads: %s" % exc) from None
    try:
        dtypes = options.parse_dtypes(config.getoption("fastnn_dtypes"))
    except ValueError as exc:
        raise pytest.UsageError("--fastnn-dtypes: %s" % exc) from None
    return cases.PLANS[plan], threads, dtypes


def pytest_generate_tests(metafunc):
    plan, threads, dtypes = _settings(metafunc.config)
    if "data_parallel_bench" in metafunc.fixturenames:
        # fastnn only; the layouts (ranks x threads per rank) side by side per dtype
        benches = [Bench("data_parallel", case, dtype, n, "fastnn")
                   for shape in plan.data_parallel for dtype in dtypes
                   for case, n in cases.data_parallel_layouts(shape, threads)]
        metafunc.parametrize("data_parallel_bench", benches, ids=[b.key for b in benches])
        return
    if "kernel_bench" in metafunc.fixturenames:
        name, impls = "kernel_bench", cases.KERNEL_IMPLS
        found = [("kernel", c) for c in cases.kernel_cases(plan)]
    elif "step_bench" in metafunc.fixturenames:
        name, impls = "step_bench", cases.TRAINING_IMPLS
        found = [("step", c) for c in cases.training_cases(plan, "step")]
    elif "epoch_bench" in metafunc.fixturenames:
        name, impls = "epoch_bench", cases.TRAINING_IMPLS
        found = [("epoch", c) for c in cases.training_cases(plan, "epoch")]
    elif "contention_bench" in metafunc.fixturenames:
        # One benchmark per configuration: fastnn on the most threads, timed
        # side by side with its peers (fastnn on 1 thread, JAX) inside the test.
        benches = [Bench("contention", case, dtype, max(threads), "fastnn")
                   for case in cases.training_cases(plan, "contention") for dtype in dtypes]
        metafunc.parametrize("contention_bench", benches, ids=[b.key for b in benches])
        return
    else:
        return
    benches = [Bench(group, case, dtype, n, impl) for group, case in found
               for dtype in dtypes for n in threads for impl in impls]
    metafunc.parametrize(name, benches, ids=[b.key for b in benches])


class Session:
    """Per-run state: the thread count in force, the peak and GEMM rates measured so far."""

    def __init__(self, config):
        self.load_at_start = machine.load_average()
        self.plan = config.getoption("fastnn_plan")
        self.peak_size = cases.PLANS[self.plan].peak_size
        self.peaks = {}
        self.gemm = {}
        self._threads = None

    def prepare(self, bench):
        """Skip a PyTorch or JAX benchmark when that library is absent; set the thread count.

        Parameters
        ----------
        bench : Bench
        """
        if bench.impl == "torch" and machine.torch_module() is None:
            pytest.skip("PyTorch is not installed")
        if bench.impl == "jax" and not jax_peer.available():
            pytest.skip("JAX is not installed")
        if bench.threads != self._threads:
            machine.set_threads(bench.threads)
            self._threads = bench.threads

    def peak(self, dtype, threads):
        """Peak GFLOP/s for a dtype and thread count on the active path.

        On first use per dtype and thread count, also probes the GEMM rate
        (:func:`fastnn.bench.peak.measure`), recorded beside the peak.

        Parameters
        ----------
        dtype : str
        threads : int
            Must be the thread count in force (see :meth:`prepare`).

        Returns
        -------
        float
            ``threads`` x one core's measured peak (:func:`fastnn.bench.peak.peak`).
        """
        name = "%s/%d" % (dtype, threads)
        if name not in self.peaks:
            self.peaks[name] = peak.peak(dtype, threads)
            self.gemm[name] = peak.measure(dtype, self.peak_size)
        return self.peaks[name]["gflops"]


_SESSION = pytest.StashKey()


def pytest_configure(config):
    config.stash[_SESSION] = Session(config)


@pytest.fixture(scope="session")
def fastnn_session(request):
    """The :class:`Session` of this run."""
    return request.config.stash[_SESSION]


def pytest_benchmark_update_machine_info(config, machine_info):
    session = config.stash[_SESSION]
    _, threads, dtypes = _settings(config)
    machine_info["fastnn"] = {**machine.machine_info(), "plan": session.plan,
                              "threads": threads, "dtypes": dtypes,
                              "peak_gflops": session.peaks, "gemm_gflops": session.gemm,
                              "load_average": [session.load_at_start, machine.load_average()]}


def pytest_benchmark_update_json(config, benchmarks, output_json):
    # Drop the per-round timings: with fast kernels run millions of times they
    # made a full run's JSON half a gigabyte; the statistics stay.
    for bench in output_json["benchmarks"]:
        bench.get("stats", {}).pop("data", None)
