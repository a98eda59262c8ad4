"""Data-parallel training on MPI (fastnn.distributed, ``fit(comm=...)``).

The MPI checks run in child processes, on 1, 2 and 3 ranks under ``mpiexec``
(tests/mpi/data_parallel.py), so that this process never initialises MPI (a
forked child of an MPI process is not safe); they need mpi4py and an MPI
whose ``mpiexec`` sits next to this Python (``pip install mpi4py mpich``,
which the test extra installs).  The step plan is tested here directly.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn.distributed import DataParallel

SCRIPT = pathlib.Path(__file__).resolve().parent / "mpi" / "data_parallel.py"


def _env(**extra):
    """The ranks' environment: one thread each, and the fastnn this test runs
    (the checkout above tests/ first on the path: a build in place, e.g. CI's
    serial and clang copies, rather than whatever fastnn is installed)."""
    checkout = str(SCRIPT.parents[2])
    path = os.pathsep.join(p for p in (checkout, os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path, **extra)


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    beside = pathlib.Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="needs mpi4py and mpiexec "
                                                       "(pip install mpi4py mpich)")


def _run(ranks, check, folder, timeout=240, **env):
    """Run ``check`` on ``ranks`` ranks, with ``env`` added to the environment;
    the ranks it passed on (their marker files)."""
    folder.mkdir()
    env = _env(**env)
    run = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, str(SCRIPT), check,
                          str(folder)], capture_output=True, text=True, timeout=timeout,
                         env=env)
    run.passed = sorted(p.name for p in folder.glob("ok-*"))
    return run


def _passes(ranks, check, folder, **env):
    """Run ``check`` on ``ranks`` ranks and assert it passed on every one."""
    run = _run(ranks, check, folder, **env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.passed == ["ok-%d" % r for r in range(ranks)]


def _plan_on(rank, sizes):
    dp = object.__new__(DataParallel)
    dp.rank, dp.size = rank, len(sizes)
    dp.offset, dp.n_local, dp.n_total = sum(sizes[:rank]), sizes[rank], sum(sizes)
    return dp


@pytest.mark.parametrize("sizes, batch_size", [([5, 6], 4), ([0, 7, 3], 3), ([1, 30], 64),
                                               ([9, 400, 594], 16)])
def test_each_global_batch_is_split_over_the_ranks_that_hold_its_rows(sizes, batch_size):
    n = sum(sizes)
    perm = np.random.default_rng(1).permutation(n)
    plans = [_plan_on(r, sizes).epoch(perm, batch_size) for r in range(len(sizes))]
    n_steps = -(-n // batch_size)
    for r, (local_order, counts, totals) in enumerate(plans):
        assert len(counts) == len(totals) == n_steps
        assert counts.sum() == len(local_order) == sizes[r]
        np.testing.assert_array_equal(totals, [min(batch_size, n - s * batch_size)
                                               for s in range(n_steps)])
    for s in range(n_steps):
        batch = []
        for r, (local_order, counts, _) in enumerate(plans):
            start = counts[:s].sum()
            batch += list(local_order[start:start + counts[s]] + sum(sizes[:r]))
        # the ranks' rows of step s, in rank order, are the global batch's rows
        assert sorted(batch) == sorted(perm[s * batch_size:(s + 1) * batch_size])


@needs_mpi
@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_ranks_train_as_one_process_on_the_whole_set(ranks, tmp_path):
    _passes(ranks, "same-as-one-process", tmp_path / "run")


@needs_mpi
@pytest.mark.parametrize("ranks", [1, 2, 3])
@pytest.mark.parametrize("shared", ["1", "0"], ids=["node-shared", "mpi-allreduce"])
def test_the_gradient_sum_gives_every_rank_the_sum(ranks, shared, tmp_path):
    _passes(ranks, "gradient-sum", tmp_path / "run", FASTNN_MPI_SHARED_REDUCE=shared)


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_sample_weights_and_string_labels_train_as_one_process(ranks, tmp_path):
    _passes(ranks, "weights-and-labels", tmp_path / "run")


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_dropout_trains_as_one_process(ranks, tmp_path):
    _passes(ranks, "dropout", tmp_path / "run")


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_new_activations_and_losses_train_as_one_process(ranks, tmp_path):
    _passes(ranks, "activations-and-losses", tmp_path / "run")


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_shared_products_train_as_one_process(ranks, tmp_path):
    _passes(ranks, "shared-products", tmp_path / "run", FASTNN_MPI_SHARED_PRODUCTS="1")


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_the_estimators_train_as_one_process_with_shared_products(ranks, tmp_path):
    _passes(ranks, "sklearn", tmp_path / "run", FASTNN_MPI_SHARED_PRODUCTS="1")


def test_shared_products_are_chosen_where_they_move_fewer_bytes():
    from fastnn.distributed import _products_pay
    assert _products_pay(256, np.array([1024, 4096, 4096, 1024]))   # 25.2 M > 4.7 M values
    assert not _products_pay(256, np.array([784, 128, 64, 10]))    # 0.11 M < 0.30 M
    assert _products_pay(8, np.array([784, 128, 64, 10]))          # 0.11 M > 0.01 M


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_exchange_is_refused_without_a_node_shared_reducer(dtype):
    import fastnn
    from fastnn._kernels import train
    model = fastnn.Sequential([fastnn.Dense(3, 2), fastnn.Sigmoid()], dtype=dtype)
    lay = model._layout
    exchange = np.zeros(train.exchange_size(4, lay["sizes"]), dtype)
    assert exchange.size == 4 * (3 + 2 + 2)
    X, Y = np.zeros((4, 3), dtype), np.zeros((4, 2), dtype)
    order = np.arange(4, dtype=np.intp)
    args = (X, Y, order, 0, 4, 4, lay["sizes"], lay["act_codes"], 0, model.params,
            model.grads, np.zeros(4 * 5, dtype), np.zeros(4 * 2, dtype), np.zeros(4 * 2, dtype),
            lay["w_off"], lay["b_off"], lay["a_off"], lay["d_off"], 0, 0.1, 0.0, False, 0.9,
            0.999, 1e-8, 0.0, np.empty(0, dtype), np.empty(0, dtype), 0)
    with pytest.raises(ValueError, match="exchange need a reducer"):
        train.train_samples(*args, exchange=exchange)
    counts, totals = np.array([4], np.intp), np.array([4.0])
    plain = np.zeros(train.REDUCER_FIELDS, np.int64)
    plain[0] = 1                                         # an MPI_Allreduce, no node
    with pytest.raises(ValueError, match="need a node-shared reducer on one machine"):
        train.train_samples(*args, step_counts=counts, step_totals=totals, reducer=plain,
                            exchange=exchange, step_starts=np.zeros(1, np.intp))
    node = plain.copy()
    node[9], node[10] = 0, 2                             # rank 0 of 2 sharing a machine
    addresses = np.array([model.grads.ctypes.data] * 2, np.int64)
    node[11] = addresses.ctypes.data
    steps = dict(step_counts=counts, step_totals=totals, reducer=node)
    with pytest.raises(ValueError, match="exchange must hold exchange_size"):
        train.train_samples(*args, **steps, exchange=exchange[:-1],
                            step_starts=np.zeros(1, np.intp))
    with pytest.raises(ValueError, match="need one step_starts per step"):
        train.train_samples(*args, **steps, exchange=exchange)
    with pytest.raises(ValueError, match=r"step 0: rows \[1, 5\) of 4.0 do not fit"):
        train.train_samples(*args, **steps, exchange=exchange, step_starts=np.ones(1, np.intp))


@pytest.mark.parametrize("sizes", [[12, 10, 4], [12, 10, 2, 4], [3, 1, 1]])
@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_the_shared_products_slices_cover_every_parameter_once(sizes, ranks):
    from fastnn._kernels import train
    sizes = np.array(sizes, np.intp)
    n_params = int(np.sum(sizes[:-1] * sizes[1:] + sizes[1:]))
    owners = np.zeros(n_params, int)
    for rank in range(ranks):
        for start, stop in train.product_slices(sizes, rank, ranks):
            assert 0 <= start <= stop <= n_params
            owners[start:stop] += 1
    np.testing.assert_array_equal(owners, 1)


@pytest.mark.parametrize("layers", [[fastnn.Dense(12, 10), fastnn.ReLU(), fastnn.Dense(10, 4),
                                     fastnn.Softmax()],
                                    [fastnn.Dense(5, 3), fastnn.Tanh(), fastnn.Dense(3, 7),
                                     fastnn.Sigmoid(), fastnn.Dense(7, 2), fastnn.Identity()]])
def test_the_exchange_blocks_fit_the_exchange_window_without_overlapping(layers):
    # every layer's inputs and dL/dZ, a global batch each, inside the window
    # (which also has room for the output activations, never exchanged)
    from fastnn._kernels import train
    layout = fastnn.Sequential(layers)._layout
    sizes, batch = layout["sizes"], 6
    used = np.zeros(train.exchange_size(batch, sizes), int)
    blocks = train.exchange_blocks(batch, sizes, layout["a_off"], layout["d_off"])
    assert [units for _, units in blocks] == list(sizes[:-1]) + list(sizes[1:])
    for offset, units in blocks:
        assert 0 <= offset and offset + batch * units <= used.size
        used[offset:offset + batch * units] += 1
    assert used.max() == 1
    assert used.sum() == batch * (sizes[:-1].sum() + sizes[1:].sum())


@needs_mpi
def test_plain_mpi_allreduce_trains_as_one_process(tmp_path):
    _passes(2, "same-as-one-process", tmp_path / "run", FASTNN_MPI_SHARED_REDUCE="0")


@needs_mpi
def test_the_sum_is_hierarchical_over_several_machines(tmp_path):
    _passes(4, "two-machines", tmp_path / "run")


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_local_sgd_averages_the_ranks_weights_every_k_steps(ranks, tmp_path):
    _passes(ranks, "local-sgd", tmp_path / "run")


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_the_scikit_learn_estimators_fit_as_one_process(ranks, tmp_path):
    _passes(ranks, "sklearn", tmp_path / "run")


def test_the_estimators_refuse_comm_with_lbfgs_or_warm_start():
    pytest.importorskip("sklearn")
    from fastnn import MLPClassifier
    comm = object()    # refused before the communicator is looked at
    for params in (dict(solver="lbfgs"), dict(warm_start=True)):
        with pytest.raises(ValueError, match="fit with comm needs solver"):
            MLPClassifier(**params).fit(np.zeros((4, 2)), [0, 1, 0, 1], comm=comm)


def test_local_steps_need_a_communicator():
    import fastnn
    model = fastnn.Sequential([fastnn.Dense(3, 2), fastnn.Sigmoid()])
    with pytest.raises(ValueError, match="local_steps"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), "mse", fastnn.SGD(0.1), verbose=0,
                  local_steps=2)


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_sharded_predict_and_evaluate_gather_the_whole_set(ranks, tmp_path):
    _passes(ranks, "sharded-predict", tmp_path / "run")


@needs_mpi
def test_validation_shards_and_early_stopping_agree_with_one_process(tmp_path):
    _passes(2, "validation", tmp_path / "run")


@needs_mpi
def test_resuming_from_a_checkpoint_continues_the_same_trajectory(tmp_path):
    _passes(2, "checkpoint", tmp_path / "run")


@needs_mpi
@pytest.mark.parametrize("products", ["0", "1"], ids=["gradient-sum", "shared-products"])
def test_a_run_with_fixed_ranks_repeats_bit_for_bit(products, tmp_path):
    digests = []
    for i in range(2):
        run = _run(2, "digest", tmp_path / str(i), FASTNN_MPI_SHARED_PRODUCTS=products)
        assert run.returncode == 0, run.stdout + run.stderr
        digests.append((tmp_path / str(i) / "digest").read_text())
    assert len(digests[0]) == 64 and digests[0] == digests[1]


@needs_mpi
@pytest.mark.parametrize("products", ["0", "1"], ids=["gradient-sum", "shared-products"])
def test_ranks_on_two_threads_each_give_the_bits_of_one_thread_each(products, tmp_path):
    digests = []
    for threads in ("1", "2"):
        run = _run(2, "threaded-digest", tmp_path / threads, DIGEST_THREADS=threads,
                   FASTNN_MPI_SHARED_PRODUCTS=products)
        assert run.returncode == 0, run.stdout + run.stderr
        digests.append((tmp_path / threads / "digest").read_text())
    assert len(digests[0]) == 64 and digests[0] == digests[1]


@needs_mpi
def test_bad_input_on_one_rank_is_reported_on_every_rank_before_training(tmp_path):
    _passes(2, "bad-input", tmp_path / "run")


@needs_mpi
def test_an_exception_on_one_rank_ends_the_job_instead_of_hanging(tmp_path):
    run = _run(2, "raise-mid-training", tmp_path / "run", timeout=120)
    assert run.returncode != 0
    assert "rank 1 of 2 failed during fit: RuntimeError: a callback failed" in run.stderr
    assert run.passed == []


@needs_mpi
def test_a_rank_that_dies_ends_the_job_instead_of_hanging(tmp_path):
    run = _run(2, "killed-mid-training", tmp_path / "run", timeout=120)
    assert run.returncode != 0
    assert run.passed == []


@needs_mpi
def test_ranks_on_one_machine_share_its_cpus_during_fit(tmp_path):
    _passes(2, "threads", tmp_path / "run")


@needs_mpi
@pytest.mark.parametrize("mnist", [False, True], ids=["digits", "mnist"])
def test_the_demo_trains_on_two_ranks(tmp_path, mnist):
    from test_demo import write_mnist_files
    args = ["--epochs", "3"]
    if mnist:
        write_mnist_files(tmp_path)
        args += ["--mnist", str(tmp_path)]
    run = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "fastnn", "demo",
                          "--distributed", "--quiet", *args], capture_output=True, text=True,
                         timeout=240, env=_env())
    assert run.returncode == 0, run.stdout + run.stderr
    for rank in range(2):
        assert "rank %d of 2: training rows" % rank in run.stdout
    assert run.stdout.count("test accuracy:") == 1 and "samples/s" in run.stdout


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_gradient_sum_refuses_bad_arguments_before_any_mpi_call(dtype):
    from fastnn._kernels import train
    reducer = np.zeros(train.REDUCER_FIELDS, np.int64)
    with pytest.raises(ValueError, match="grads must not be empty"):
        train.reduce_gradients(np.zeros(0, dtype), reducer)
    with pytest.raises(ValueError, match="reducer must hold 13 integers, got 7"):
        train.reduce_gradients(np.zeros(4, dtype), np.zeros(7, np.int64))
    with pytest.raises(ValueError, match="no MPI_Allreduce address"):
        train.reduce_gradients(np.zeros(4, dtype), reducer)
    elsewhere = np.zeros(4, dtype)
    node = reducer.copy()
    node[0], node[9], node[10] = 1, 0, 2                   # rank 0 of 2 sharing a machine
    addresses = np.array([elsewhere.ctypes.data, elsewhere.ctypes.data], np.int64)
    node[11] = addresses.ctypes.data
    with pytest.raises(ValueError, match="not this rank's buffer of the node's shared window"):
        train.reduce_gradients(np.zeros(4, dtype), node)
