"""Training benchmarks: one SGD step and one epoch of 60,000 samples, per
network and batch size; fastnn, the NumPy reference, plain NumPy, PyTorch,
JAX; fastnn and JAX under competing load (``TestContention``); and fastnn's
data-parallel training on MPI ranks (``TestDataParallel``, in ``mpiexec``
jobs the suite starts; skipped without mpi4py and mpiexec).

    python -m pytest benchmarks/bench_training.py --fastnn-plan quick

The cases and implementations live in :mod:`fastnn.bench`.
"""

from fastnn.bench.suite import (  # noqa: F401
    TestContention,
    TestDataParallel,
    test_training_epoch,
    test_training_step,
)
