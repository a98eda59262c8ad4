"""``python -m pytest benchmarks/``: the suite's pytest plugin, registered here.

The hooks and the fixture come from :mod:`fastnn.bench.plugin`, which
``python -m fastnn bench`` loads with ``-p``: the options ``--fastnn-plan``,
``--fastnn-threads`` and ``--fastnn-dtypes``, the parametrization of every
benchmark by its stable key, and the machine, build and peak GEMM rates in the
JSON's ``machine_info["fastnn"]``.  For example::

    python -m pytest benchmarks/ --fastnn-plan quick --benchmark-json=out.json
    python -m fastnn compare out.json
"""

# pytest finds hooks and fixtures by name in this module.
from fastnn.bench.plugin import (  # noqa: F401
    fastnn_session,
    pytest_addoption,
    pytest_benchmark_update_json,
    pytest_benchmark_update_machine_info,
    pytest_configure,
    pytest_generate_tests,
)
