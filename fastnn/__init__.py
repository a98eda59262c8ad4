"""fastnn: neural networks trained by gradient descent and backpropagation, fast.

The hot work runs in compiled Cython/OpenMP kernels (:mod:`fastnn.kernels`),
each with a plain NumPy twin in :mod:`fastnn.reference` that the tests hold it
to.  ``python -m fastnn info`` (or :func:`show_config`) shows how this copy was
built and what it runs on.
"""

from fastnn import kernels, reference
from fastnn._config import config, get_num_threads, set_num_threads, show_config
from fastnn._version import __version__

__all__ = [
    "__version__", "config", "get_num_threads", "kernels", "reference",
    "set_num_threads", "show_config",
]
