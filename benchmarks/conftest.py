"""pytest-benchmark setup: the machine and build every result was measured on.

Run with ``python -m pytest benchmarks/ --benchmark-json=out.json``; the JSON's
``machine_info`` then carries the CPU, its SIMD flags, the thread counts, the
BLAS library and kernel, and fastnn's build flags, so that results from
different CPUs and builds can be compared.
"""

import sys
import pathlib

import fastnn

sys.path.insert(0, str(pathlib.Path(__file__).parent))


def pytest_benchmark_update_machine_info(config, machine_info):
    info = fastnn.config()
    machine_info["fastnn"] = {
        "version": info["fastnn"],
        "cpu": info["cpu"],
        "cpu_signature": info["cpu_signature"],
        "simd": info["simd"],
        "cpu_count": info["cpu_count"],
        "openmp": info["openmp"],
        "num_threads": info["num_threads"],
        "blas": info["blas"],
        "compiler": info["compiler"],
        "compile_args": info["compile_args"],
        "native": info["native"],
    }
