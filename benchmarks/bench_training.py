"""Training benchmarks: one SGD step and one epoch of 60,000 samples, per
network and batch size; fastnn, the NumPy reference, plain NumPy, PyTorch,
JAX; and fastnn and JAX under competing load (``TestContention``).

    python -m pytest benchmarks/bench_training.py --fastnn-plan quick

The cases and implementations live in :mod:`fastnn.bench`.
"""

from fastnn.bench.suite import (  # noqa: F401
    TestContention,
    test_training_epoch,
    test_training_step,
)
