"""The JAX peer of the training benchmarks, run in a worker process per thread count.

JAX is optional (``pip install "jax[cpu]"``) and never a dependency of
fastnn; without it the ``jax`` benchmarks are skipped.  The network is written
the way JAX users write a fast training loop:

- the loss as a function of the parameters (a list of ``(W, b)``), the
  gradient from ``jax.grad``, plain SGD as a ``tree_map``;
- a whole epoch as one jitted ``jax.lax.scan`` over the epoch's batches (the
  batch rows gathered from the data, kept on the device, inside the scan),
  the parameters donated (``donate_argnums``) so XLA updates them in place;
  a last partial batch, as ``fit`` trains it, is one more call of the same
  function with a scan of length 1;
- per step, one jitted and donated SGD step on a batch already on the device.

Same network, loss, float dtype, initial weights (those of
:func:`fastnn.bench.training.fastnn_model`) and batch order (the
permutations ``fit`` draws from the model's generator) as fastnn, so the
weights after an epoch can be checked against fastnn's (:func:`check_epoch`).

**Threads.** XLA's CPU client sizes its intra-op thread pool once, when the
backend starts, from the environment variable ``PJRT_NPROC`` (else the CPUs
the process may run on); ``threadpoolctl`` and ``OMP_NUM_THREADS`` do not
reach it, and ``--xla_cpu_multi_thread_eigen=false`` has no effect on the CPU
runtime of recent jaxlib (measured with jaxlib 0.10.2: 4 threads share the
work with or without it; with ``PJRT_NPROC=1`` one thread does it all).  The
bench alternates thread counts in one process, so each thread count gets its
own worker process, started with ``PJRT_NPROC=n`` and kept for the session;
the parent sends it pickled requests over a pipe.  Each worker reports how
many of its threads did the work of its last timed call, and its CPU time
over wall time (from ``/proc/self/task``, Linux), which the suite records.

**Timing.** The worker times each call itself (after a warm-up call that
compiles); a call's wall time in the parent includes one pipe round trip
(tens of microseconds), so per-step benchmarks run ``steps_per_call`` steps
per call, enough for a call of about 10 ms.
"""

import atexit
import importlib.util
import os
import pickle
import subprocess
import sys
import time
import traceback

import numpy as np

#: Per-step benchmarks: steps per call, so that a call lasts about this long.
STEP_CALL_SECONDS = 0.01


def available():
    """True when JAX can be imported (checked without importing it here)."""
    return importlib.util.find_spec("jax") is not None


def worker_env(threads, base=None):
    """The environment of a worker running XLA on ``threads`` threads.

    Parameters
    ----------
    threads : int
    base : dict, optional
        Environment to start from (default ``os.environ``).

    Returns
    -------
    dict
    """
    env = dict(os.environ if base is None else base)
    env["PJRT_NPROC"] = str(threads)
    env["JAX_PLATFORMS"] = "cpu"
    return env


class Worker:
    """A worker process holding one JAX trainer at a time.

    Parameters
    ----------
    threads : int
        XLA's intra-op thread count in the worker.
    """

    def __init__(self, threads):
        self.threads = threads
        path = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = worker_env(threads)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fastnn.bench.jax_peer"], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def call(self, method, *args):
        """Run ``method(*args)`` of the worker's trainer; return (value, seconds).

        Raises
        ------
        RuntimeError
            With the worker's traceback, when the call failed there.
        """
        pickle.dump((method, args), self.process.stdin)
        self.process.stdin.flush()
        try:
            status, value, seconds = pickle.load(self.process.stdout)
        except EOFError:
            raise RuntimeError("the JAX worker (%d threads) exited with status %s"
                               % (self.threads, self.process.wait())) from None
        if status != "ok":
            raise RuntimeError("in the JAX worker (%d threads):\n%s" % (self.threads, value))
        return value, seconds

    def close(self):
        """End the worker (it exits when its input closes)."""
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)


_WORKERS = {}


def worker(threads):
    """The worker of this thread count, started on first use, kept until exit."""
    w = _WORKERS.get(threads)
    if w is None or w.process.poll() is not None:
        w = _WORKERS[threads] = Worker(threads)
    return w


@atexit.register
def close_workers():
    """End every worker started by this process."""
    while _WORKERS:
        _WORKERS.popitem()[1].close()


class JaxTrainer:
    """The parent's handle on the JAX trainer in a worker: ``step``, ``epoch``, ``weights``.

    Parameters
    ----------
    case : TrainingCase
    dtype : {'float32', 'float64'}
    samples : int
        Size of the data set (one epoch).
    threads : int
        XLA's thread count (the worker this trainer runs in).
    steps_per_call : int or None
        Steps per ``step()`` call; None: 1 (as for the check).  Use
        :meth:`calibrate` to choose it from the step's time.
    """

    def __init__(self, case, dtype, samples, threads=1):
        self.case, self.batch, self.dtype = case, case.batch, dtype
        self.worker = worker(threads)
        self.steps_per_call = 1
        self.last_seconds = None
        self.worker.call("make", case.network, case.batch, dtype, samples)

    def _call(self, method, *args):
        value, self.last_seconds = self.worker.call(method, *args)
        return value

    def calibrate(self, seconds=STEP_CALL_SECONDS):
        """Set ``steps_per_call`` so that a ``step()`` call lasts about ``seconds``."""
        self._call("steps", 1)                                 # compiles
        self._call("steps", 10)
        self.steps_per_call = max(1, round(seconds / (self.last_seconds / 10)))

    def step(self):
        """``steps_per_call`` SGD steps, cycling through the data."""
        self._call("steps", self.steps_per_call)

    def epoch(self):
        """One epoch in ``fit``'s batch order (the next permutation of the model's generator)."""
        self._call("epoch")

    def weights(self):
        """List of (W, b) per layer, W of shape (n_in, n_out), as NumPy arrays."""
        return self._call("weights")

    def thread_use(self):
        """How the worker's last timed call used threads (Linux; else None).

        Returns
        -------
        dict or None
            None when the call used under ``MIN_MEASURED_TICKS`` clock ticks
            of CPU time (too short to tell) or off Linux; else
            ``busy_threads``, the threads that did at least 5% of the call's
            CPU time (a pool thread may take over from another between
            operations), and ``cpu_per_wall``, the process's CPU time over the
            call's wall time: about the number of threads working at once
            (less when other processes hold the cores).
        """
        return self._call("thread_use")


# ---------------------------------------------------------------------------
# The worker side: runs in the worker process only (imports JAX).

#: Threads' CPU times come in clock ticks (10 ms on Linux): a call that used
#: fewer than this many is too short to say which threads did its work.
MIN_MEASURED_TICKS = 10


def _per_thread_cpu():
    """CPU seconds of each thread of this process, or None where /proc is absent."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for t in tasks:
        try:
            with open("/proc/self/task/%s/stat" % t) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[t] = (int(fields[11]) + int(fields[12])) / tick    # utime + stime
    return out


class LocalTrainer:
    """The JAX network, its jitted epoch and step, and the data, in this process.

    What a worker runs; also usable directly in a process whose XLA thread
    count was set before JAX started (:func:`worker_env`), as
    ``benchmarks/jax_vs_fastnn.py`` does.  ``steps(count)`` and ``epoch()``
    return (None, seconds), the wall time of the call until the parameters
    are ready; ``weights()`` returns (list of (W, b), None), ``thread_use()``
    (see :meth:`JaxTrainer.thread_use`, None).

    Parameters
    ----------
    network_name : str
        A key of :data:`fastnn.bench.cases.NETWORKS`.
    batch : int
    dtype : {'float32', 'float64'}
    samples : int
        Size of the data set (one epoch).
    """

    def __init__(self, network_name, batch, dtype, samples):
        import jax
        import jax.numpy as jnp

        from fastnn.bench.cases import NETWORKS
        from fastnn.bench.training import STEP_BATCHES, fastnn_model, make_data

        if dtype == "float64":      # JAX computes in float32 unless told otherwise
            jax.config.update("jax_enable_x64", True)
        self.jax, self.jnp = jax, jnp
        network = NETWORKS[network_name]
        self.batch = batch
        X, Y = make_data(network.sizes[0], network.sizes[-1], samples, dtype)
        model = fastnn_model(network, dtype)
        # fit draws each epoch's order from the model's generator, after the weights.
        self.rng = model._rng
        self.params = [(jnp.asarray(d.W), jnp.asarray(d.b)) for d in model.dense]
        self.X, self.Y = jnp.asarray(X), jnp.asarray(Y)
        n = min(samples, batch * STEP_BATCHES)
        self.step_batches = [(self.X[s:s + batch], self.Y[s:s + batch])
                             for s in range(0, n - n % batch, batch)]
        self.position = 0
        lr = np.dtype(dtype).type(network.lr)
        acts = [act for _, _, act in network.layers()]
        fused_softmax = network.loss == "cce"
        nonlinear = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jnp.tanh,
                     "identity": lambda z: z, "softmax": jax.nn.softmax}

        def loss(params, x, y):
            for i, ((W, b), act) in enumerate(zip(params, acts)):
                x = x @ W + b
                if not (fused_softmax and i == len(acts) - 1):
                    x = nonlinear[act](x)
            if fused_softmax:       # softmax + cross-entropy on the logits
                return -jnp.sum(y * jax.nn.log_softmax(x)) / x.shape[0]
            return 0.5 * jnp.sum((x - y) ** 2) / x.shape[0]

        def sgd(params, x, y):
            grads = jax.grad(loss)(params, x, y)
            return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

        def batches(params, X, Y, idx):
            def body(p, rows):
                return sgd(p, X[rows], Y[rows]), None
            return jax.lax.scan(body, params, idx)[0]

        self._step = jax.jit(sgd, donate_argnums=0)
        self._batches = jax.jit(batches, donate_argnums=0)

    def _timed(self, run):
        before, started = _per_thread_cpu(), time.perf_counter()
        run()
        self.jax.block_until_ready(self.params)
        seconds = time.perf_counter() - started
        after = _per_thread_cpu()
        self.use = None
        if before is not None and after is not None:
            used = [after[t] - before.get(t, 0.0) for t in after]
            total = sum(used)
            if total >= MIN_MEASURED_TICKS / os.sysconf("SC_CLK_TCK"):
                self.use = {"busy_threads": sum(u >= 0.05 * total for u in used),
                            "cpu_per_wall": total / seconds}
        return None, seconds

    def steps(self, count):
        def run():
            for _ in range(count):
                x, y = self.step_batches[self.position]
                self.position = (self.position + 1) % len(self.step_batches)
                self.params = self._step(self.params, x, y)
        return self._timed(run)

    def epoch(self):
        def run():
            order = self.rng.permutation(self.X.shape[0]).astype(np.int32)
            full = len(order) - len(order) % self.batch
            self.params = self._batches(self.params, self.X, self.Y,
                                        order[:full].reshape(-1, self.batch))
            if full < len(order):       # fit trains the last partial batch too
                self.params = self._batches(self.params, self.X, self.Y, order[None, full:])
        return self._timed(run)

    def weights(self):
        return [(np.asarray(W), np.asarray(b)) for W, b in self.params], None

    def thread_use(self):
        return getattr(self, "use", None), None


def _serve(stdin, stdout):
    """Answer (method, args) requests until the input closes."""
    trainer = None
    while True:
        try:
            method, args = pickle.load(stdin)
        except EOFError:
            return
        try:
            if method == "make":
                trainer = None                       # free the previous one first
                trainer = LocalTrainer(*args)
                reply = ("ok", None, None)
            else:
                value, seconds = getattr(trainer, method)(*args)
                reply = ("ok", value, seconds)
        except Exception:
            reply = ("error", traceback.format_exc(), None)
        pickle.dump(reply, stdout)
        stdout.flush()


if __name__ == "__main__":
    # The pipe to the parent is the binary stdout; anything printed goes to stderr.
    channel, sys.stdout = sys.stdout.buffer, sys.stderr
    _serve(sys.stdin.buffer, channel)
