"""Training throughput under pytest-benchmark: one epoch per round, per implementation.

    python -m pytest benchmarks/bench_training.py --benchmark-group-by=param:case

Every case of ``training.CASES`` × implementation (fastnn, the NumPy reference,
PyTorch eager when installed) × thread count; samples/s in ``extra_info``.
"""

import numpy as np
import pytest

import fastnn
import training


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    before = fastnn.get_num_threads()
    training.set_threads(request.param)
    yield request.param
    training.set_threads(before)


@pytest.mark.parametrize("impl", list(training.IMPLEMENTATIONS))
@pytest.mark.parametrize("case", list(training.CASES))
def test_training_epoch(benchmark, case, impl, threads):
    if impl == "torch" and training.torch is None:
        pytest.skip("PyTorch is not installed")
    n = training.CASES[case][-1]
    train = training.IMPLEMENTATIONS[impl](case)
    train(1)                      # check once before timing: an epoch runs
    benchmark.extra_info.update(case=case, impl=impl, threads=threads)
    benchmark.pedantic(train, args=(1,), rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info["samples_per_s"] = n / benchmark.stats.stats.median


def test_fastnn_matches_reference_before_timing():
    # The implementations being compared compute the same thing.
    X, Y = training.make_data("nielsen_b10", np.float64)
    X, Y = X[:200], Y[:200]
    models = [training.fastnn_model("nielsen_b10", np.float64, b) for b in ("cython", "numpy")]
    for m in models:
        m.fit(X, Y, fastnn.MSELoss(), fastnn.SGD(3.0), epochs=2, batch_size=10, verbose=0)
    np.testing.assert_allclose(models[0].params, models[1].params, rtol=1e-9, atol=1e-12)
