"""Compiled kernels (private).

Call them through :mod:`fastnn.kernels`, which validates every argument first.
The ``def`` functions here take typed memoryviews, check only that the shapes
they are given are consistent (so that no call can read out of bounds), and run
``nogil``.  Each ``.pxd`` exports the ``cdef ... noexcept nogil`` functions
that other compiled modules (the training loop) call directly.
"""
