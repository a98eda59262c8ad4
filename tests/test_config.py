"""Build facts and thread control: show_config, config, ``python -m fastnn info``,
set_num_threads / get_num_threads, and threadpoolctl."""

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import threadpoolctl

import fastnn
from fastnn._build_config import BUILD_CONFIG
from fastnn._config import _blas_controllers
from fastnn._kernels import _parallel

CONFIG_KEYS = {
    "fastnn", "python", "numpy", "scipy", "openmp", "openmp_reason", "num_threads", "adaptive_threads",
    "cpu_count", "available_cpus", "blas", "cpu", "cpu_signature", "simd", "routes", "compiler",
    "compile_args", "native", "debug", "sanitize", "isa", "available_isas", "openblas_coretype",
    "blas_thread_control",
}


def _blas_threads():
    return [c.num_threads for c in _blas_controllers()]


@pytest.fixture
def restore_threads():
    """Put fastnn's OpenMP limit and its BLAS library's thread count back afterwards."""
    omp_before = fastnn.get_num_threads() if _parallel.openmp_enabled() else None
    blas_before = [(c.filepath, c.num_threads) for c in _blas_controllers()]
    try:
        yield
    finally:
        if omp_before is not None:
            _parallel.set_max_threads(omp_before)
        by_path = dict(blas_before)
        for c in _blas_controllers():
            if c.filepath in by_path:
                c.set_num_threads(by_path[c.filepath])


def _check_show_config_text(text):
    lines = text.splitlines()
    assert lines[0].startswith("fastnn %s (Python %s, NumPy %s, " % (
        fastnn.__version__, sys.version.split()[0], np.__version__))
    openmp = "yes" if _parallel.openmp_enabled() else "no"
    assert re.search(r"^OpenMP: +%s \(%s\)$" % (openmp, re.escape(BUILD_CONFIG["openmp_reason"])),
                     text, re.M)
    assert re.search(r"^threads: +%d in use \(%s CPUs, %d available to this process\); "
                     r"fewer in fit while other processes hold CPUs$" % (
                         fastnn.get_num_threads(), os.cpu_count(),
                         fastnn.config()["available_cpus"]), text, re.M)
    blas = [ln for ln in lines if ln.startswith("BLAS:")]
    assert len(blas) == max(1, len(_blas_controllers()))
    for line, c in zip(blas, _blas_controllers()):
        assert re.match(r"^BLAS: +%s .*, %d threads$" % (c.internal_api, c.num_threads), line)
    assert re.search(r"^CPU: +\S.* \(family \d+ model \d+ stepping \d+\)$", text, re.M)
    assert re.search(r"^SIMD: +\S", text, re.M)
    assert re.search(r"^ISA path: +%s \(available: %s\)$" % (
        fastnn.get_isa(), ", ".join(fastnn.available_isas())), text, re.M)
    assert re.search(r"^compiler: +%s$" % re.escape(BUILD_CONFIG["compiler"]), text, re.M)
    flags = [ln for ln in lines if ln.startswith("flags:")]
    assert len(flags) == 1
    for arg in BUILD_CONFIG["compile_args"]:
        assert arg in flags[0].split()
    assert ("[FASTNN_NATIVE]" if BUILD_CONFIG["native"] else "[portable]") in flags[0]


def test_show_config_prints_every_line(capsys):
    assert fastnn.show_config() is None
    out, err = capsys.readouterr()
    assert err == ""
    _check_show_config_text(out)


def test_show_config_to_a_file(capsys):
    buf = io.StringIO()
    fastnn.show_config(file=buf)
    assert capsys.readouterr().out == ""
    _check_show_config_text(buf.getvalue())


def test_config_dict():
    c = fastnn.config()
    assert set(c) == CONFIG_KEYS
    assert c["fastnn"] == fastnn.__version__
    assert c["numpy"] == np.__version__
    assert c["openmp"] is _parallel.openmp_enabled()
    assert c["openmp_reason"] == BUILD_CONFIG["openmp_reason"]
    assert c["num_threads"] == fastnn.get_num_threads() >= 1
    assert c["isa"] == fastnn.get_isa() and c["available_isas"] == fastnn.available_isas()
    assert c["openblas_coretype"] == (os.environ.get("OPENBLAS_CORETYPE") or None)
    assert c["cpu_count"] == os.cpu_count()
    assert 1 <= c["available_cpus"] <= os.cpu_count()
    assert isinstance(c["cpu"], str) and c["cpu"]
    assert re.fullmatch(r"family \d+ model \d+ stepping \d+", c["cpu_signature"])
    assert isinstance(c["simd"], list) and all(isinstance(s, str) for s in c["simd"])
    assert c["compiler"] == BUILD_CONFIG["compiler"]
    assert c["compile_args"] == BUILD_CONFIG["compile_args"]
    assert isinstance(c["native"], bool) and isinstance(c["debug"], bool)
    assert isinstance(c["sanitize"], bool)
    assert len(c["blas"]) == len(_blas_controllers()) >= 1
    # SciPy's wheels bundle a pthreads OpenBLAS, whose thread count gemm can hold at one
    assert c["blas_thread_control"] is any(
        b["internal_api"] == "openblas" and b["threading_layer"] == "pthreads"
        for b in c["blas"])
    for b in c["blas"]:
        assert set(b) == {"internal_api", "version", "architecture", "threading_layer",
                          "num_threads", "filepath"}
        assert b["num_threads"] >= 1 and os.path.exists(b["filepath"])


def test_cli_info():
    proc = subprocess.run([sys.executable, "-m", "fastnn", "info"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("fastnn %s " % fastnn.__version__)
    for label in ("OpenMP:", "threads:", "BLAS:", "CPU:", "SIMD:", "routes:", "compiler:",
                  "flags:"):
        assert re.search(r"^%s" % label, proc.stdout, re.M), label


def test_cli_without_a_command_is_a_usage_error():
    from fastnn.__main__ import main
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2
    assert main(["info"]) == 0


# --- threads -----------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, np.int64(1)], ids=["1", "2", "int64(1)"])
def test_set_num_threads(n, restore_threads):
    fastnn.set_num_threads(n)
    if _parallel.openmp_enabled():
        assert _parallel.get_max_threads() == n
    assert fastnn.get_num_threads() == n
    # The BLAS library fastnn calls is limited too.
    assert _blas_threads() and all(t == n for t in _blas_threads())
    assert fastnn.config()["num_threads"] == n
    assert all(b["num_threads"] == n for b in fastnn.config()["blas"])


def test_set_num_threads_restores(restore_threads):
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        assert fastnn.get_num_threads() == 1
    finally:
        fastnn.set_num_threads(before)
    assert fastnn.get_num_threads() == before
    assert all(t == before for t in _blas_threads())


@pytest.mark.parametrize("n", [0, -1, 1.5, True, False, "2", None, 2.0],
                         ids=["0", "-1", "1.5", "True", "False", "'2'", "None", "2.0"])
def test_set_num_threads_rejects(n, restore_threads):
    before, blas_before = fastnn.get_num_threads(), _blas_threads()
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got %s$"
                       % re.escape(repr(n))):
        fastnn.set_num_threads(n)
    assert fastnn.get_num_threads() == before
    assert _blas_threads() == blas_before


def test_set_num_threads_huge_count_is_named(restore_threads):
    with pytest.raises(ValueError, match=r"^n "):
        fastnn.set_num_threads(2**40)


@pytest.mark.skipif(not _parallel.openmp_enabled(),
                    reason="fastnn was built without OpenMP: get_num_threads reports BLAS's count")
def test_threadpool_limits_limits_fastnn(restore_threads):
    fastnn.set_num_threads(2)
    assert fastnn.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(limits=1):
        assert fastnn.get_num_threads() == 1
        assert all(t == 1 for t in _blas_threads())
    assert fastnn.get_num_threads() == 2
    assert all(t == 2 for t in _blas_threads())


@pytest.mark.skipif(not _parallel.openmp_enabled(), reason="fastnn was built without OpenMP")
def test_threadpoolctl_sees_fastnns_openmp_runtime():
    info = threadpoolctl.threadpool_info()
    assert any(i["user_api"] == "openmp" for i in info)


def test_flush_denormals_is_scoped_to_the_block():
    from fastnn._kernels import _cpu

    tiny = np.float32(1e-20)
    assert tiny * tiny > 0                     # denormal result kept by default
    with fastnn.flush_denormals():
        if _cpu.flush_denormals_supported():
            assert tiny * tiny == 0
            assert np.float32(1e-39) * np.float32(1) == 0   # denormal input read as 0
    assert tiny * tiny > 0                     # restored after the block
    with pytest.raises(RuntimeError), fastnn.flush_denormals():
        raise RuntimeError
    assert tiny * tiny > 0                     # restored after an exception too
