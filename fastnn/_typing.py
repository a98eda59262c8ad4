"""Type aliases of fastnn's annotations (for type checkers; nothing here runs in a hot path).

fastnn's public functions take ``npt.ArrayLike`` where they accept anything
NumPy converts (and convert it once at the boundary), and ``FloatArray`` where
they need an ndarray of float32 or float64 (``out=`` buffers, in-place
optimizer state, the NumPy reference).  Shapes are documented in docstrings.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FloatArray", "IntArray"]

#: An ndarray of float32 or float64.
FloatArray = npt.NDArray[np.floating[Any]]
#: An ndarray of integers (class labels).
IntArray = npt.NDArray[np.integer[Any]]
