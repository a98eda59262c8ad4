"""The benchmark suite, as pytest-benchmark tests (run with :mod:`fastnn.bench.plugin`).

``python -m fastnn bench`` runs this file; ``benchmarks/bench_*.py`` import
its tests so that ``pytest benchmarks/`` runs the same thing.  Every test
checks its implementation once against the NumPy reference, then times it,
then records in ``extra_info``: the key and what it names, the check's error,
GFLOP/s (operations counted) or GB/s (bytes counted), samples/s, the
fraction of this machine's peak rate (:mod:`fastnn.bench.peak`), and the
1-minute load average before and after the timing (``load_average``).

Data-parallel training (``TestDataParallel``) runs in ``mpiexec`` jobs that
the suite starts itself, one per benchmark (:mod:`fastnn.bench.data_parallel`);
it skips without mpi4py or ``mpiexec``.
"""

import dataclasses
import math
import statistics
import time

import pytest

from fastnn.bench import data_parallel, jax_peer, kernels, load, machine, training
from fastnn.bench.cases import NETWORKS, threads_label

#: A benchmark whose single call takes longer than this many times
#: ``--benchmark-max-time`` gets fewer rounds than ``--benchmark-min-rounds``
#: (at least one).
SLOW_FACTOR = 10


def _time(benchmark, bench, run, config, rounds=None, setup=None):
    """Time ``run`` under pytest-benchmark; slow calls get fewer rounds.

    One untimed call first warms up and measures the call; calls faster than
    ``--benchmark-max-time`` are left to pytest-benchmark's calibration.
    ``rounds``: exactly this many timed calls instead, each after an untimed
    call of ``setup`` (if given; needs ``rounds``).  Returns the 1-minute
    load average before and after (:func:`fastnn.bench.machine.load_average`).
    """
    benchmark.group = bench.key.rsplit("/", 1)[0]   # the implementations side by side
    before = machine.load_average()
    started = time.perf_counter()
    run()
    once = time.perf_counter() - started
    max_time = float(config.getoption("benchmark_max_time"))
    if rounds:
        benchmark.pedantic(run, setup=setup, rounds=rounds, iterations=1)
    elif once <= max_time:
        benchmark(run)
    else:
        min_rounds = int(config.getoption("benchmark_min_rounds"))
        rounds = max(1, min(min_rounds, int(SLOW_FACTOR * max_time / once)))
        benchmark.pedantic(run, rounds=rounds, iterations=1)
    return [before, machine.load_average()]


def _record(benchmark, bench, session, error, flops=None, nbytes=None, samples=None,
            cores=None, **info):
    """Fill ``extra_info``; ``cores``: the threads of the peak (default ``bench.threads``)."""
    stats = benchmark.stats
    info.update(key=bench.key, group=bench.group, case=bench.case.name, dtype=bench.dtype,
                threads=bench.threads, threads_label=threads_label(bench.threads),
                impl=bench.impl, check_error=error)
    if stats is not None:   # None under --benchmark-disable
        seconds = stats.stats.median
        if flops is not None:
            gflops = flops / seconds / 1e9
            peak = session.peak(bench.dtype, cores or bench.threads)
            info.update(flops=flops, gflops=gflops, peak_gflops=peak,
                        fraction_of_peak=gflops / peak)
        if nbytes is not None:
            info.update(bytes=nbytes, gbytes_per_s=nbytes / seconds / 1e9)
        if samples is not None:
            info.update(samples=samples, samples_per_s=samples / seconds)
    benchmark.extra_info.update(info)


def test_kernel(benchmark, kernel_bench, fastnn_session, request):
    """One kernel call: dense layers, activations, losses, optimizer updates."""
    b = kernel_bench
    fastnn_session.prepare(b)
    error = kernels.check(b.case, b.impl, b.dtype)
    run, _ = kernels.make(b.case, b.impl, b.dtype)
    load_average = _time(benchmark, b, run, request.config)
    flops, nbytes = kernels.work(b.case, b.dtype)
    rows = None if b.case.kernel.endswith("update") else b.case.shape[0]
    _record(benchmark, b, fastnn_session, error, flops, nbytes, rows,
            kernel=b.case.kernel, variant=b.case.variant, shape=list(b.case.shape),
            load_average=load_average)


def _training(benchmark, bench, session, config, per, rounds=None, **info):
    session.prepare(bench)
    case = bench.case
    error = training.check(case, bench.impl, bench.dtype)
    if per != "step" and bench.impl == "jax":
        # Whole epochs: the same batch order and partial last batch as fit, checked
        # in float64, where ten steps of the deepest network stay within the
        # check's tolerance (float32 drifts past it; the step check covers float32).
        training.check_epoch(case, bench.impl, "float64")
    network = NETWORKS[case.network]
    samples = case.batch * training.STEP_BATCHES if per == "step" else case.samples
    trainer = training.make(case, bench.impl, bench.dtype, samples)
    if per == "step" and bench.impl == "jax":
        trainer.calibrate()
    run = trainer.step if per == "step" else trainer.epoch
    load_average = _time(benchmark, bench, run, config, rounds)
    trained = (case.batch * trainer.steps_per_call if per == "step"
               else case.samples - case.samples % case.batch)
    _record(benchmark, bench, session, error,
            flops=trained * training.flops_per_sample(network), samples=trained,
            network=network.name, description=network.describe(), batch=case.batch,
            load_average=load_average, **trainer.info(), **info)


def test_training_step(benchmark, step_bench, fastnn_session, request):
    """One SGD step: a batch through forward, loss, backward and update."""
    _training(benchmark, step_bench, fastnn_session, request.config, "step")


def test_training_epoch(benchmark, epoch_bench, fastnn_session, request):
    """One epoch of shuffled mini-batches."""
    _training(benchmark, epoch_bench, fastnn_session, request.config, "epoch")


class TestContention:
    """Training while one CPU-bound process per CPU competes for the CPUs.

    The busy loops (:mod:`fastnn.bench.load`) start before the first of these
    benchmarks and stop after the last.  Each configuration is one benchmark,
    its three contenders side by side: fastnn's ``fit`` on its default
    threads (all cores, adapting to the load) is what pytest-benchmark times;
    between its timed calls (in pytest-benchmark's untimed ``setup``) the
    same epoch runs on fastnn held to 1 thread and on JAX on all cores, timed
    here.  The three alternate call by call, in an order rotated round by
    round, so their medians come from the same minutes of the same load (a
    busy machine's speed drifts by tens of percent over minutes);
    ``extra_info`` holds the other two as ``one_thread_samples_per_s`` and
    ``jax_samples_per_s`` (no JAX: absent), and ``compare`` shows fastnn over
    each.
    """

    #: Timed calls per contender (the tiny plan: 1): under this load one
    #: call's time scatters by ±35% (a 1-thread fit's rate doubles or halves
    #: as the scheduler gives it a CPU of its own or a shared one, several
    #: times a second), so the medians need many: at least ROUNDS, and as
    #: many as fill SECONDS per contender (at most MAX_ROUNDS).
    ROUNDS = 15
    SECONDS = 8.0
    MAX_ROUNDS = 60

    @pytest.fixture(scope="class")
    def competing(self):
        n = load.per_cpu()
        with load.competing_processes(n):
            yield n

    def test_training_contention(self, benchmark, contention_bench, fastnn_session, competing,
                                 request):
        """``fit`` over the case's samples beside ``competing`` busy processes,
        alternating with fastnn on 1 thread and with JAX."""
        b, case = contention_bench, contention_bench.case
        fastnn_session.prepare(b)
        error = training.check(case, "fastnn", b.dtype)
        peers = {"one_thread": (training.make(case, "fastnn", b.dtype, case.samples), 1)}
        info = {}
        if jax_peer.available():
            info["jax_check_error"] = training.check(case, "jax", b.dtype)
            training.check_epoch(case, "jax", "float64")
            peers["jax"] = (training.make(case, "jax", b.dtype, case.samples), b.threads)
        trainer = training.make(case, "fastnn", b.dtype, case.samples)
        seconds = {name: [] for name in peers}

        def run_peers(names):
            for name in names:
                peer, threads = peers[name]
                machine.set_threads(threads)
                started = time.perf_counter()
                peer.epoch()
                seconds[name].append(time.perf_counter() - started)
            machine.set_threads(b.threads)

        run_peers(peers)                    # warm-up (JAX compiles), not counted
        once = seconds["one_thread"][0]
        for times in seconds.values():
            times.clear()
        rounds = (1 if fastnn_session.plan == "tiny" else
                  min(self.MAX_ROUNDS, max(self.ROUNDS, math.ceil(self.SECONDS / once))))
        # Round r runs the contenders in an order rotated by r, so that each
        # takes each place equally often (under load the scheduler favours
        # some places: one 1-thread fit ran 13% faster after a 2-thread fit
        # than after another 1-thread one): the peers due before each timed
        # call run in its setup, those after the last one after it.
        names = ["fastnn", *peers]
        before, due = [], []
        for r in range(rounds):
            for i in range(len(names)):
                name = names[(r + i) % len(names)]
                if name == "fastnn":
                    before.append(due)
                    due = []
                else:
                    due.append(name)
        setups = iter(before)
        load_average = _time(benchmark, b, trainer.epoch, request.config, rounds,
                             setup=lambda: run_peers(next(setups)))
        run_peers(due)
        network = NETWORKS[case.network]
        trained = case.samples - case.samples % case.batch
        for name, times in seconds.items():
            info[name + "_samples_per_s"] = trained / statistics.median(times)
        if "jax" in peers:
            info["jax_info"] = peers["jax"][0].info()
        _record(benchmark, b, fastnn_session, error,
                flops=trained * training.flops_per_sample(network), samples=trained,
                network=network.name, description=network.describe(), batch=case.batch,
                load_average=load_average, competing_processes=competing,
                side_by_side_rounds=rounds, **info)


class TestDataParallel:
    """Data-parallel ``fit`` on MPI: one rank on each thread count against one
    rank per core on one thread each (:func:`fastnn.bench.cases.data_parallel_layouts`).

    Every layout, one rank included, is an ``mpiexec`` job of
    :mod:`fastnn.bench.data_parallel` training with ``comm``, started for its
    benchmark (``OMP_NUM_THREADS`` set to its threads per rank) and ended
    after it; the timed call is one epoch, from sending ``epoch`` to the job
    to its ``done``, consecutive epochs being epochs of one ``fit`` (the call's
    setup falls in the untimed first).  Before: the check (``fit`` with ``comm``
    against one process's ``fit`` on the same rows,
    :meth:`~fastnn.bench.data_parallel.Job.check`); after, with several ranks:
    the communication's time and bytes per step (gradient sum, or the shared
    products' exchange, :meth:`~fastnn.bench.data_parallel.Job.communication`).
    """

    #: Timed epochs per benchmark (the tiny plan: 1).
    ROUNDS = 5

    @pytest.fixture
    def job(self, data_parallel_bench, fastnn_session):
        """The benchmark's ``mpiexec`` job (skips without mpi4py or mpiexec)."""
        reason = data_parallel.missing()
        if reason:
            pytest.skip(reason)
        b = data_parallel_bench
        cores = b.case.ranks * b.threads
        # The peak and GEMM probe first: the job's idle ranks poll for the next command.
        fastnn_session.prepare(dataclasses.replace(b, threads=cores))
        fastnn_session.peak(b.dtype, cores)
        job = data_parallel.Job(b.case.network, b.case.ranks, b.threads, b.case.batch,
                                b.case.samples, b.dtype)
        try:
            yield job
        finally:
            job.close()

    def test_training_data_parallel(self, benchmark, data_parallel_bench, fastnn_session, job,
                                    request):
        """One epoch of ``fit(..., comm=comm)`` over the case's samples, on every rank."""
        b, case = data_parallel_bench, data_parallel_bench.case
        network = NETWORKS[case.network]
        error = job.check()
        rounds = 1 if fastnn_session.plan == "tiny" else self.ROUNDS
        load_average = _time(benchmark, b, job.epoch, request.config, rounds)
        info = {}
        if case.ranks > 1:
            info = job.communication()
        trained = case.samples - case.samples % case.batch
        _record(benchmark, b, fastnn_session, error,
                flops=trained * training.flops_per_sample(network), samples=trained,
                cores=case.ranks * b.threads, network=network.name,
                description=network.describe(), batch=case.batch, ranks=case.ranks,
                threads_per_rank=b.threads, steps_per_epoch=-(-case.samples // case.batch),
                load_average=load_average, **info)
