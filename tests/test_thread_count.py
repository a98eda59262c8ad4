"""fastnn's thread count: the default (affinity mask, cgroup CPU quota,
OMP_NUM_THREADS), the process-wide limit, and training in a forked child."""

import itertools
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastnn
from fastnn import _config, _cpus, _interrupt
from fastnn._kernels import _blas, _parallel

needs_openmp = pytest.mark.skipif(not _parallel.openmp_enabled(),
                                  reason="a serial build has one thread")
needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="no fork start method on this platform")


def _cgroup_tree(tmp_path, membership, files):
    """A fake /proc/self/cgroup and cgroup mount: {relative path: text}."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    proc = tmp_path / "cgroup"
    proc.write_text(membership)
    root = tmp_path / "fs"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root), str(proc)


def test_cgroup_v2_quota_is_the_smallest_on_the_path(tmp_path):
    root, proc = _cgroup_tree(tmp_path, "0::/pod/box\n", {
        "cpu.max": "max 100000\n",
        "pod/cpu.max": "300000 100000\n",
        "pod/box/cpu.max": "150000 100000\n"})
    assert _cpus.cgroup_cpu_quota(root, proc) == pytest.approx(1.5)


def test_cgroup_v2_without_a_limit(tmp_path):
    root, proc = _cgroup_tree(tmp_path, "0::/box\n", {"box/cpu.max": "max 100000\n"})
    assert _cpus.cgroup_cpu_quota(root, proc) is None


def test_cgroup_v1_quota(tmp_path):
    root, proc = _cgroup_tree(tmp_path, "4:memory:/\n2:cpu,cpuacct:/docker/abc\n", {
        "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000\n",
        "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"})
    assert _cpus.cgroup_cpu_quota(root, proc) == pytest.approx(0.5)


def test_cgroup_v1_unlimited_and_garbage(tmp_path):
    root, proc = _cgroup_tree(tmp_path, "2:cpu,cpuacct:/\n", {
        "cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
        "cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    assert _cpus.cgroup_cpu_quota(root, proc) is None
    root, proc = _cgroup_tree(tmp_path / "g", "2:cpu:/\n", {
        "cpu/cpu.cfs_quota_us": "lots\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert _cpus.cgroup_cpu_quota(root, proc) is None
    assert _cpus.cgroup_cpu_quota(root, str(tmp_path / "missing")) is None


def test_available_cpus_rounds_a_quota_up_and_respects_the_affinity_mask(tmp_path):
    root, proc = _cgroup_tree(tmp_path, "0::/\n", {"cpu.max": "150000 100000\n"})
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count()
    assert _cpus.available_cpus(root, proc) == min(affinity, 2)
    root, proc = _cgroup_tree(tmp_path / "small", "0::/\n", {"cpu.max": "10000 100000\n"})
    assert _cpus.available_cpus(root, proc) == 1


def _threads_in_child(env_extra, prefix=()):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(env_extra)
    out = subprocess.run(list(prefix) + [sys.executable, "-c",
                                         "import fastnn; print(fastnn.get_num_threads())"],
                         env=env, capture_output=True, text=True, timeout=120, check=True)
    return int(out.stdout.strip())


@needs_openmp
def test_default_thread_count_follows_omp_num_threads_and_the_cpus():
    assert _threads_in_child({"OMP_NUM_THREADS": "1"}) == 1
    assert _threads_in_child({}) == _cpus.available_cpus()


@needs_openmp
@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs an affinity mask of 2 CPUs or more")
def test_default_thread_count_follows_the_affinity_mask():
    cpu = min(os.sched_getaffinity(0))
    prefix = [sys.executable, "-c",
              "import os, sys; os.sched_setaffinity(0, {%d}); "
              "os.execv(sys.argv[1], sys.argv[1:])" % cpu]
    assert _threads_in_child({}, prefix) == 1


@needs_openmp
def test_the_thread_limit_holds_in_other_python_threads():
    before = fastnn.get_num_threads()
    seen = []
    try:
        fastnn.set_num_threads(1)
        worker = threading.Thread(target=lambda: seen.append(fastnn.get_num_threads()))
        worker.start()
        worker.join()
    finally:
        fastnn.set_num_threads(before)
    assert seen == [1]


def _product_and_training():
    """A packed product and a short fit: their bits."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((384, 512)).astype(np.float32)
    B = rng.standard_normal((512, 640)).astype(np.float32)
    C = np.zeros((384, 640), np.float32)
    _blas.gemm_packed(False, False, 1.0, A, B, 0.0, C)
    X = rng.random((512, 64))
    y = rng.integers(0, 10, 512)
    model = fastnn.Sequential([fastnn.Dense(64, 32), fastnn.ReLU(), fastnn.Dense(32, 10),
                               fastnn.Softmax()], seed=0)
    model.fit(X, np.eye(10)[y], "cce", fastnn.SGD(0.1), epochs=2, batch_size=32, verbose=0)
    return C, model.dense[0].W.copy()


def _child(queue):
    import warnings
    threads = fastnn.get_num_threads()       # inherited from the parent: 2, capped to 1
    C, W = _product_and_training()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fastnn.set_num_threads(2)            # asks for 2: stays on 1, warns
    queue.put((threads, fastnn.get_num_threads(), [str(w.message) for w in caught], C, W))


@needs_openmp
@needs_fork
def test_a_forked_child_trains_on_one_thread_with_the_same_bits():
    """After the parent's OpenMP team ran, a forked child must not wait for
    threads it does not have (it hung before fastnn capped it at one)."""
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(2)
        C, W = _product_and_training()
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_child, args=(queue,))
        child.start()
        try:     # read before joining: the child exits once its result is read
            threads, threads_after, warnings_seen, C_child, W_child = queue.get(timeout=60)
        except Exception:
            child.kill()
            pytest.fail("the forked child hung (or died)")
        child.join(60)
    finally:
        fastnn.set_num_threads(before)
    assert child.exitcode == 0
    assert threads == threads_after == 1
    assert any("forked" in w for w in warnings_seen)
    np.testing.assert_array_equal(C_child, C)
    np.testing.assert_array_equal(W_child, W)
    assert not _config._FORKED          # the parent keeps its threads


@needs_openmp
def test_threadpoolctl_limits_fastnn():
    from threadpoolctl import threadpool_limits
    before = fastnn.get_num_threads()
    with threadpool_limits(limits=1, user_api="openmp"):
        assert fastnn.get_num_threads() == 1
    assert fastnn.get_num_threads() == before


# --- training on a busy machine: fewer threads while other processes hold CPUs ---

def _stat_file(path, rows):
    """A fake /proc/stat: {cpu: (user, nice, system, idle, iowait, irq, softirq, steal)}."""
    lines = ["cpu  1 2 3 4 5 6 7 8 0 0"]
    lines += ["cpu%d %s 0 0" % (c, " ".join(map(str, v))) for c, v in rows.items()]
    path.write_text("\n".join(lines + ["intr 12345 0 0", "ctxt 999"]) + "\n")
    return str(path)


def test_busy_seconds_counts_all_but_idle_and_iowait_of_the_named_cpus(tmp_path):
    hz = os.sysconf("SC_CLK_TCK")
    path = _stat_file(tmp_path / "stat", {0: (10, 1, 2, 1000, 50, 3, 4, 6),
                                          1: (20, 0, 0, 2000, 0, 0, 0, 0)})
    assert _cpus.busy_seconds([0], path) == pytest.approx(26 / hz)
    assert _cpus.busy_seconds([0, 1], path) == pytest.approx(46 / hz)
    assert _cpus.busy_seconds([0, 2], path) is None          # a CPU it does not list
    assert _cpus.busy_seconds([0], str(tmp_path / "missing")) is None
    (tmp_path / "bad").write_text("cpu0 x y z\n")
    assert _cpus.busy_seconds([0], str(tmp_path / "bad")) is None


def test_other_load_is_busy_time_less_this_process_cpu_time(tmp_path, monkeypatch):
    hz = os.sysconf("SC_CLK_TCK")
    clock = {"wall": 100.0, "own": 5.0}
    monkeypatch.setattr(_cpus, "_affinity", lambda: frozenset({0, 1}))
    monkeypatch.setattr(_cpus.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(_cpus.time, "process_time", lambda: clock["own"])
    path = tmp_path / "stat"
    _stat_file(path, {0: (0, 0, 0, 0, 0, 0, 0, 0), 1: (0, 0, 0, 0, 0, 0, 0, 0)})
    load = _cpus.OtherLoad(str(path))
    # 2 s: both CPUs busy all the time (4 CPU-seconds), 1.5 of them this process's
    clock.update(wall=102.0, own=6.5)
    _stat_file(path, {0: (2 * hz, 0, 0, 0, 0, 0, 0, 0), 1: (hz, 0, 0, 0, 0, 0, 0, hz)})
    assert load.measure() == pytest.approx((4.0 - 1.5) / 2.0)
    # no time passed: nothing measured; then a window where only this process ran
    assert load.measure() is None
    clock.update(wall=103.0, own=7.5)
    _stat_file(path, {0: (3 * hz, 0, 0, 0, 0, 0, 0, 0), 1: (hz, 0, 0, 0, 0, 0, 0, hz)})
    assert load.measure() == pytest.approx(0.0)
    monkeypatch.setattr(_cpus, "_affinity", lambda: frozenset({0}))   # mask changed
    clock.update(wall=104.0)
    assert load.measure() is None


@pytest.mark.parametrize("others, cpus, wanted, threads", [
    (0.0, 2, 2, 2), (0.25, 2, 2, 2), (0.5, 2, 2, 1), (1.0, 2, 2, 1), (2.0, 2, 2, 1),
    (0.0, 8, 4, 4), (5.2, 8, 8, 3), (9.0, 8, 8, 1), (0.0, 2, 1, 1)])
def test_threads_beside_other_load(others, cpus, wanted, threads):
    assert _cpus.threads_beside(others, cpus, wanted) == threads


@pytest.mark.skipif(_cpus.busy_seconds(_cpus._affinity() or [0]) is None,
                    reason="no /proc/stat to measure the load with")
def test_busy_processes_beside_this_one_are_measured():
    count = min(_cpus.available_cpus(), 4)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
    try:
        time.sleep(0.3)
        load = _cpus.OtherLoad()
        time.sleep(1.0)
        others = load.measure()
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    assert 0.6 * count <= others <= count + 0.5


class _ScriptedLoad:
    """An OtherLoad whose measurements follow a script, one per decision."""

    def __init__(self, loads):
        self.loads = itertools.cycle(loads)

    def restart(self):
        pass

    def elapsed(self):
        return 1.0

    def measure(self):
        return next(self.loads)


def _fit_recording_threads(monkeypatch, loads):
    """A fit whose load adaptation reads ``loads``: its weights and the thread
    counts its runs had."""
    monkeypatch.setattr(_interrupt, "TARGET_S", 1e-9)        # every run: one batch
    monkeypatch.setattr(_config, "available_cpus", lambda: 2)
    adaptation = _config._ADAPTATION
    monkeypatch.setattr(adaptation, "_load", _ScriptedLoad(loads))
    seen = []
    decide = adaptation.next_run
    monkeypatch.setattr(adaptation, "next_run",
                        lambda: (decide(), seen.append(_parallel.get_max_threads())))
    rng = np.random.default_rng(4)
    X = rng.random((600, 48))
    Y = np.eye(10)[rng.integers(0, 10, 600)]
    model = fastnn.Sequential([fastnn.Dense(48, 300), fastnn.ReLU(), fastnn.Dense(300, 10),
                               fastnn.Softmax()], seed=0)
    model.fit(X, Y, "cce", fastnn.Adam(1e-3), epochs=2, batch_size=64, verbose=0)
    return model.params.copy(), seen


@needs_openmp
@pytest.mark.parametrize("rate_1, rate_2, kept", [(100.0, 300.0, 2), (300.0, 100.0, 1),
                                                  (200.0, 200.0, 1), (100.0, 115.0, 1)])
def test_under_load_the_faster_thread_count_is_timed_and_kept(monkeypatch, rate_1, rate_2,
                                                               kept):
    clock = {"now": 50.0}
    monkeypatch.setattr(_config.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(_config, "available_cpus", lambda: 2)
    before = fastnn.get_num_threads()
    adaptation = _config._LoadAdaptation()
    adaptation._load = _ScriptedLoad([2.0])           # both CPUs held by others
    try:
        fastnn.set_num_threads(2)
        adaptation.begin()
        # the trial: 1, 2, 1, 2 ... threads
        assert _runs(adaptation, {1: rate_1, 2: rate_2}) == [1, 2] * adaptation.TRIAL_RUNS
        assert _parallel.get_max_threads() == kept
        clock["now"] += adaptation.HOLD_S / 2           # held: the same load, no trial
        adaptation.next_run()
        adaptation.after_run(1.0, 1.0)
        assert _parallel.get_max_threads() == kept
        clock["now"] += adaptation.HOLD_S              # then a new trial
        adaptation.next_run()
        assert _parallel.get_max_threads() == 1
        adaptation._load = _ScriptedLoad([0.0])        # the others stop: the trial ends, then
        adaptation.begin()                             # the load is measured: all threads
        for _ in range(2 * adaptation.TRIAL_RUNS):
            adaptation.after_run(1.0, 1.0)
            adaptation.next_run()
        assert _parallel.get_max_threads() == 2
    finally:
        adaptation.end()
        fastnn.set_num_threads(before)
    assert _parallel.get_max_threads() == before


@pytest.fixture
def loaded_adaptation(monkeypatch):
    """A fresh _LoadAdaptation on 2 threads of 2 CPUs, both held by others, on
    a clock the test moves; yields (adaptation, clock)."""
    clock = {"now": 50.0}
    monkeypatch.setattr(_config.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(_config, "available_cpus", lambda: 2)
    before = fastnn.get_num_threads()
    adaptation = _config._LoadAdaptation()
    adaptation._load = _ScriptedLoad([2.0])
    fastnn.set_num_threads(2)
    try:
        yield adaptation, clock
    finally:
        adaptation.end()
        fastnn.set_num_threads(before)


def _runs(adaptation, rates, seconds=1.0):
    """Runs at ``rates[threads]`` samples/s; the thread counts they had."""
    seen = []
    for _ in range(2 * adaptation.TRIAL_RUNS):
        adaptation.next_run()
        threads = _parallel.get_max_threads()
        seen.append(threads)
        adaptation.after_run(rates[threads] * seconds, seconds)
    return seen


@needs_openmp
def test_a_trial_counts_long_runs_of_one_model_only(loaded_adaptation):
    adaptation, clock = loaded_adaptation
    model, other = object(), object()
    adaptation.begin(model)
    # too short to time: the trial does not advance
    assert _runs(adaptation, {1: 100.0, 2: 300.0}, adaptation.TRIAL_MIN_RUN_S / 2) == \
        [1] * (2 * adaptation.TRIAL_RUNS)
    adaptation.next_run()
    adaptation.after_run(100.0, 1.0)                  # the trial's first run, on 1 thread
    adaptation.end()
    # another model's loop on one thread neither counts nor ends the trial
    fastnn.set_num_threads(1)
    adaptation.begin(other)
    adaptation.next_run()
    adaptation.after_run(1e6, 1.0)
    adaptation.end()
    fastnn.set_num_threads(2)
    adaptation.begin(model)                           # the next epoch goes on with it
    seen = []
    for _ in range(2 * adaptation.TRIAL_RUNS - 1):
        adaptation.next_run()
        threads = _parallel.get_max_threads()
        seen.append(threads)
        adaptation.after_run({1: 100.0, 2: 300.0}[threads], 1.0)
    assert seen == ([1, 2] * adaptation.TRIAL_RUNS)[1:]
    assert _parallel.get_max_threads() == 2
    adaptation.end()
    # a trial under way ends when another model's loop adapts
    clock["now"] += adaptation.HOLD_MAX_S
    adaptation.begin(model)
    adaptation.next_run()
    adaptation.after_run(100.0, 1.0)
    adaptation.end()
    adaptation.begin(other)
    adaptation.next_run()                             # a new trial, for ``other``
    assert adaptation._trial[0] is other and adaptation._trial[2] == []


@needs_openmp
def test_a_confirmed_choice_is_held_longer_and_dropped_when_the_load_ends(loaded_adaptation):
    adaptation, clock = loaded_adaptation
    adaptation.begin()
    holds = []
    for _ in range(5):
        assert _runs(adaptation, {1: 300.0, 2: 100.0}) == [1, 2] * adaptation.TRIAL_RUNS
        holds.append(adaptation._hold_until - clock["now"])
        clock["now"] += holds[-1]                     # held until then: no trial
    assert holds == [3.0, 6.0, 12.0, 24.0, 24.0] and adaptation.HOLD_MAX_S == 24.0
    clock["now"] -= 10.0                              # within the hold ...
    adaptation._load = _ScriptedLoad([0.0])           # ... the others stop: all threads now
    adaptation.next_run()
    assert _parallel.get_max_threads() == 2 and adaptation._hold_until == 0.0
    adaptation._load = _ScriptedLoad([2.0])           # they are back: a trial from a 3 s hold
    assert _runs(adaptation, {1: 300.0, 2: 100.0}) == [1, 2] * adaptation.TRIAL_RUNS
    assert adaptation._hold_until - clock["now"] == adaptation.HOLD_S
    # a choice carries over to loops that follow within STALE_S of the last ...
    adaptation.end()
    clock["now"] += adaptation.STALE_S / 2
    adaptation.begin()
    assert _parallel.get_max_threads() == 1
    adaptation.end()
    clock["now"] += 2 * adaptation.STALE_S            # ... not after a pause
    adaptation.begin()
    assert _parallel.get_max_threads() == 2


@needs_openmp
def test_training_takes_fewer_threads_under_load_with_the_same_bits(monkeypatch):
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        alone, _ = _fit_recording_threads(monkeypatch, [0.0])
        fastnn.set_num_threads(2)
        adapted, seen = _fit_recording_threads(monkeypatch, [0.0, 0.0, 2.0, 1.0, 0.1])
        assert set(seen) == {1, 2}
        assert _parallel.get_max_threads() == 2         # the cap ends with the fit
        fastnn.set_num_threads(2, adaptive=False)
        _, fixed = _fit_recording_threads(monkeypatch, [2.0])
        assert set(fixed) == {2}
    finally:
        fastnn.set_num_threads(before)
    np.testing.assert_array_equal(adapted, alone)
