"""Ctrl-C during training: runs of batches cut by time, the same bits, a
consistent model after KeyboardInterrupt (fastnn/_interrupt.py)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastnn
from fastnn import _interrupt
from fastnn.sklearn import MLPClassifier


def test_runs_cover_the_range_in_whole_batches():
    chunks = _interrupt.Chunks(7, target_s=1e-9)      # every run: 1 batch
    assert list(chunks.runs(0, 30)) == [(0, 7), (7, 14), (14, 21), (21, 28), (28, 30)]
    chunks = _interrupt.Chunks(5, target_s=1e9)       # runs grow 4x at a time
    runs = list(chunks.runs(0, 1000))
    assert [b - a for a, b in runs[:4]] == [5, 20, 80, 320]
    assert runs[0][0] == 0 and runs[-1][1] == 1000
    assert all(a == b for (_, a), (b, _) in zip(runs, runs[1:]))


def test_interruptible_turns_sigint_into_a_checked_flag():
    with _interrupt.Interruptible() as interrupt:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)                 # the handler runs: a flag, no exception
        assert interrupt.pending
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
        interrupt.check()                # once only
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):   # arrived after the last check
        with _interrupt.Interruptible():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)


def test_a_user_sigint_handler_is_left_alone():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
    try:
        with _interrupt.Interruptible() as interrupt:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            assert not interrupt.pending
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def _fit(target_s, monkeypatch, optimizer):
    monkeypatch.setattr(_interrupt, "TARGET_S", target_s)
    rng = np.random.default_rng(0)
    X = rng.random((300, 20))
    Y = np.eye(4)[rng.integers(0, 4, 300)]
    model = fastnn.Sequential([fastnn.Dense(20, 16), fastnn.Sigmoid(), fastnn.Dense(16, 4),
                               fastnn.Softmax()], seed=3)
    model.fit(X, Y, "cce", optimizer, epochs=3, batch_size=7, verbose=0)
    return model.params.copy(), optimizer.t


@pytest.mark.parametrize("make", [lambda: fastnn.SGD(0.1), lambda: fastnn.Adam(1e-3)],
                         ids=["sgd", "adam"])
def test_runs_of_one_batch_give_the_bits_of_one_run(monkeypatch, make):
    one_batch = _fit(1e-9, monkeypatch, make())
    one_run = _fit(1e9, monkeypatch, make())
    np.testing.assert_array_equal(one_batch[0], one_run[0])
    assert one_batch[1] == one_run[1] == 3 * 43


def test_estimator_runs_of_one_batch_give_the_bits_of_one_run(monkeypatch):
    rng = np.random.default_rng(1)
    X, y = rng.random((200, 10)), rng.integers(0, 3, 200)
    fits = []
    for target in (1e-9, 1e9):
        monkeypatch.setattr(_interrupt, "TARGET_S", target)
        clf = MLPClassifier(hidden_layer_sizes=(8,), batch_size=9, max_iter=3,
                            random_state=0, solver="adam")
        with pytest.warns(Warning):      # max_iter reached
            clf.fit(X, y)
        fits.append([W.copy() for W in clf.coefs_])
    for a, b in zip(*fits):
        np.testing.assert_array_equal(a, b)


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import fastnn
    fastnn.set_num_threads(1)
    rng = np.random.default_rng(0)
    n, width = {n}, {width}
    X = rng.random((n, width), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    def make():
        return (fastnn.Sequential([fastnn.Dense(width, width), fastnn.ReLU(),
                                   fastnn.Dense(width, 10), fastnn.Softmax()],
                                  seed=0, dtype="float32"), fastnn.Adam(1e-3))
    class Ready(fastnn.Callback):
        def on_train_begin(self, model):
            print("READY", flush=True)
    model, opt = make()
    try:
        model.fit(X, Y, "cce", opt, epochs=100, batch_size=128, verbose=0,
                  callbacks=[Ready()])
        print("FINISHED", flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    t = opt.t
    # replay: the same batches, uninterrupted, must give the same bits and state
    per_epoch = -(-n // 128)
    replay, ropt = make()
    if t // per_epoch:
        replay.fit(X, Y, "cce", ropt, epochs=t // per_epoch, batch_size=128, verbose=0)
    if t % per_epoch:
        replay.optimizer = ropt
        ropt.bind(replay.params, replay.grads)
        order = replay._rng.permutation(n)
        _, _, steps = replay._train_compiled(X, Y, None, order, 0, (t % per_epoch) * 128,
                                             128, fastnn.losses.get_loss("cce"), ropt)
        ropt.set_step_count(steps)
    same = (np.array_equal(model.params, replay.params) and ropt.t == t
            and all(np.array_equal(a, b) for a, b in
                    zip(opt.state_dict()["state"].values(),
                        ropt.state_dict()["state"].values())))
    print("STEPS", t, "SAME", same, flush=True)
    model.fit(X[:256], Y[:256], "cce", opt, epochs=1, batch_size=128, verbose=0)
    print("REFIT", opt.t == t + 2, flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_stops_fit_within_a_run_with_a_consistent_model():
    """An epoch here takes seconds on one thread; SIGINT soon after training
    starts must stop it within about a run (0.1 s) plus a batch, not at the
    epoch's end, leaving the state of the last completed batch."""
    code = CHILD.format(n=16384, width=2048)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "READY"
        time.sleep(0.3)
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        line = child.stdout.readline().strip()
        latency = time.perf_counter() - sent
        rest, err = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
    assert line == "INTERRUPTED", (line, err)
    assert latency < 1.0, "Ctrl-C took %.2f s to stop fit" % latency
    lines = rest.split()
    assert lines[lines.index("SAME") + 1] == "True", rest + err
    assert int(lines[lines.index("STEPS") + 1]) >= 1
    assert lines[lines.index("REFIT") + 1] == "True", rest + err
