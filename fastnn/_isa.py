"""Instruction-set paths: ``get_isa``, ``set_isa``, ``available_isas``, ``use_isa``.

fastnn's own kernels (matrix products, elementwise loops) exist once per path:
``"avx512"`` (AVX-512F), ``"avx2"`` (AVX2 with FMA), ``"neon"`` (aarch64) and
``"portable"`` (plain C).  On import fastnn runs the best path the CPU
supports, or the one the environment variable ``FASTNN_ISA`` names; these
functions switch it at run time, to test or compare paths on one machine.  A
path this CPU or build cannot run is refused with a ``ValueError`` before any
kernel runs (never an illegal-instruction crash).

Each extension module with per-path kernels keeps its own copy of the active
path (``csrc/isa.h``); this module sets them all together.
"""

import contextlib
import os
from collections.abc import Iterator

from fastnn._kernels import _blas, _finite, normalization, optim

#: The extension modules whose kernels come in one variant per path.
_ISA_MODULES = (_blas, _finite, normalization, optim)

#: Every path's name, indexed by its code in csrc/isa.h.
ISA_NAMES: tuple[str, ...] = _blas._isa_names()


def available_isas() -> list[str]:
    """Return the paths this build holds and this CPU can run, fastest first.

    Returns
    -------
    list of str
        For example ``['avx512', 'avx2', 'portable']`` on an AVX-512 x86-64
        CPU, ``['avx2', 'portable']`` on an AVX2 one, ``['neon', 'portable']``
        on aarch64.
    """
    order = ("avx512", "avx2", "neon", "portable")
    return [name for name in order if _blas._isa_supported(ISA_NAMES.index(name))]


def get_isa() -> str:
    """Return the name of the active instruction-set path.

    Returns
    -------
    str
        One of ``'avx512'``, ``'avx2'``, ``'neon'``, ``'portable'``.
    """
    return ISA_NAMES[_blas._get_isa()]


def _check_isa(name: str, source: str) -> int:
    if not isinstance(name, str) or name not in ISA_NAMES:
        raise ValueError("%s must be one of %s, got %r"
                         % (source, ", ".join(repr(n) for n in ISA_NAMES), name))
    if name not in available_isas():
        raise ValueError(
            "%s=%r: this CPU or build cannot run the %s path (available here: %s)"
            % (source, name, name, ", ".join(available_isas())))
    return ISA_NAMES.index(name)


def set_isa(name: str) -> str:
    """Make ``name`` the instruction-set path of every fastnn kernel.

    Call it between trainings, not while another thread runs fastnn kernels.
    Results on different paths agree with the NumPy reference within the
    tolerances of the tests, but their matrix products sum in different orders,
    so their bits may differ; on any one path they are the same for every
    thread count.

    Parameters
    ----------
    name : {'avx512', 'avx2', 'neon', 'portable'}
        A path in :func:`available_isas`.

    Returns
    -------
    str
        The path that was active before.

    Raises
    ------
    ValueError
        If ``name`` is not a path, or this CPU or build cannot run it.
    """
    code = _check_isa(name, "isa")
    old = get_isa()
    for module in _ISA_MODULES:
        module._set_isa(code)
    return old


@contextlib.contextmanager
def use_isa(name: str) -> Iterator[None]:
    """Run the block on the instruction-set path ``name``, then restore the old one.

    Parameters
    ----------
    name : {'avx512', 'avx2', 'neon', 'portable'}
        A path in :func:`available_isas`.

    Examples
    --------
    >>> import fastnn
    >>> with fastnn.use_isa("portable"):
    ...     pass  # model.fit(X, y)
    """
    old = set_isa(name)
    try:
        yield
    finally:
        set_isa(old)


def _apply_environment():
    """Validate ``FASTNN_ISA`` on import, and make every module agree on the path."""
    wanted = os.environ.get("FASTNN_ISA", "").strip()
    if wanted:
        set_isa(ISA_NAMES[_check_isa(wanted, "FASTNN_ISA")])
    else:
        set_isa(ISA_NAMES[_blas._isa_best()])


_apply_environment()
