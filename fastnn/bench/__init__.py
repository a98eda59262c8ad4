"""fastnn's benchmark suite: ``python -m fastnn bench`` and ``python -m fastnn compare``.

Every benchmark compares fastnn with the NumPy reference and, when installed,
PyTorch eager (and, for training, jitted JAX), on the same operands and thread count, after checking each
result once against the reference.  One module per concern:

``cases``
    the networks, shapes and plans (``full``, ``quick``, ``tiny``); stable keys
``kernels``
    kernel benchmarks: implementations, operation and byte counts, the check
``training``
    training-step and epoch benchmarks: implementations and the checks
``jax_peer``
    the JAX implementation, in a worker process per thread count
``peak``
    the measured per-core peak (multiply-add loop per ISA path) and the GEMM probe
``machine``
    thread limits, optional PyTorch, machine facts (ISA path, GEMM routes, BLAS
    core type, peak) and labels
``plugin``, ``suite``
    the pytest-benchmark plugin and tests (also imported by ``benchmarks/``)
``runner``
    ``python -m fastnn bench``: runs the suite under pytest-benchmark
``results``, ``compare``, ``charts``
    reading result files; the side-by-side tables; the PNG charts
"""
