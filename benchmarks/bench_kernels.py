"""Kernel benchmarks: dense forward and backward, every activation and its
derivative, every loss gradient and fused delta, every optimizer update, at the
shapes of the representative networks; fastnn, the NumPy reference, PyTorch.

    python -m pytest benchmarks/bench_kernels.py --fastnn-plan quick

The cases and implementations live in :mod:`fastnn.bench` (so that
``python -m fastnn bench`` runs the same tests from an installed package).
"""

from fastnn.bench.suite import test_kernel  # noqa: F401
