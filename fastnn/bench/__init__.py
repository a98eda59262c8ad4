"""fastnn's benchmark suite: ``fastnn bench`` and ``fastnn compare``.

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
``data_parallel``
    data-parallel ``fit`` on MPI: the worker run on every rank of an
    ``mpiexec`` job, and the suite's handle on such a job
``peak``
    the measured per-core peak (multiply-add loop per ISA path) and the GEMM probe
``machine``
    thread limits, optional PyTorch, machine facts (ISA path, GEMM routes, BLAS
    core type, peak) and labels
``options``
    thread counts and dtypes given as text, parsed and checked
``plugin``, ``suite``
    the pytest-benchmark plugin and tests (also imported by ``benchmarks/``)
``runner``, ``progress``
    ``fastnn bench``: runs the suite under pytest-benchmark; its progress line
``results``, ``compare``, ``charts``
    reading result files; the side-by-side tables; the PNG charts
"""
