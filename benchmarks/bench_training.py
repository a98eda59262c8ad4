"""Training benchmarks: one SGD step and one epoch of 60,000 samples, per
network and batch size; fastnn, the NumPy reference, plain NumPy, PyTorch.

    python -m pytest benchmarks/bench_training.py --fastnn-plan quick

The cases and implementations live in :mod:`fastnn.bench`.
"""

from fastnn.bench.suite import test_training_epoch, test_training_step  # noqa: F401
