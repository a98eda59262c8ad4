"""The benchmark suite's machinery: ``python -m fastnn bench`` and ``compare``.

Runs the real commands in subprocesses on the ``tiny`` plan (seconds; its
figures mean nothing), and checks the pieces that make results trustworthy and
comparable: every implementation is checked against the reference before it
is timed, keys do not depend on the machine, and runs line up by key.
"""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from fastnn.bench import cases, compare, kernels, results, runner, training

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _fastnn(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastnn", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """``python -m fastnn bench --quick --tiny`` on one thread: the JSON it wrote."""
    cwd = tmp_path_factory.mktemp("bench")
    done = _fastnn("bench", "--quick", "--tiny", "--threads", "1", "--out", "run.json", cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fastnn bench: tiny plan" in done.stdout
    return cwd / "run.json"


def test_bench_writes_pytest_benchmark_json(tiny_run):
    data = json.loads(tiny_run.read_text())
    info = data["machine_info"]["fastnn"]
    for field in ("cpu", "cpu_signature", "simd", "cpu_count", "openmp", "num_threads", "blas",
                  "compile_args", "native", "plan", "peak_gflops", "load_average"):
        assert field in info, field
    assert info["plan"] == "tiny"
    assert set(info["peak_gflops"]) == {"float32/1", "float64/1"}
    assert all("data" not in b["stats"] for b in data["benchmarks"])
    keys = {b["extra_info"]["key"] for b in data["benchmarks"]}
    expected = [cases.key(group, case, dtype, 1, impl)
                for group, found in (("kernel", cases.kernel_cases(cases.PLANS["tiny"])),
                                     ("step", cases.training_cases(cases.PLANS["tiny"], "step")),
                                     ("epoch", cases.training_cases(cases.PLANS["tiny"], "epoch")))
                for case in found for dtype in ("float32", "float64")
                for impl in (cases.KERNEL_IMPLS if group == "kernel" else cases.TRAINING_IMPLS)
                if impl != "torch" or training.torch_module() is not None]
    assert keys == set(expected)
    for b in data["benchmarks"]:
        extra = b["extra_info"]
        assert extra["check_error"] <= kernels.RTOL[extra["dtype"]], extra["key"]
        assert ("gflops" in extra) or ("gbytes_per_s" in extra), extra["key"]
        if "gflops" in extra:
            assert 0 < extra["fraction_of_peak"] == pytest.approx(
                extra["gflops"] / extra["peak_gflops"])
        if extra["group"] != "kernel" or not extra["kernel"].endswith("update"):
            assert extra["samples_per_s"] > 0, extra["key"]


def test_compare_lines_up_two_machines(tiny_run, tmp_path):
    # A second "CPU": the same results under another machine and build.
    other = json.loads(tiny_run.read_text())
    other["machine_info"]["fastnn"].update(cpu="Other CPU", native=True, openmp=False)
    for b in other["benchmarks"]:
        if b["extra_info"]["impl"] == "fastnn":
            b["stats"]["median"] /= 2
            for k in ("gflops", "gbytes_per_s", "samples_per_s"):
                if k in b["extra_info"]:
                    b["extra_info"][k] *= 2
    (tmp_path / "other.json").write_text(json.dumps(other))
    done = _fastnn("compare", str(tiny_run), "other.json", "--charts", "charts", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "**A** `run.json`" in out and "**B** `other.json`" in out
    assert "portable, openmp" in out and "Other CPU" in out and "native, serial" in out
    header = next(line for line in out.splitlines() if line.startswith("| benchmark"))
    for column in ("A fastnn", "A ×numpy", "B fastnn", "B ×numpy", "B/A"):
        assert column in header
    row = next(line for line in out.splitlines()
               if line.startswith("| dense_forward/20x8-sigmoid/b4/float32/1t |"))
    assert row.rstrip(" |").endswith("2.00×")      # B's fastnn is twice as fast
    if HAS_MATPLOTLIB:
        pngs = sorted(p.name for p in (tmp_path / "charts").glob("*.png"))
        assert "throughput-dense-layers.png" in pngs and "speedup-training-step.png" in pngs
        assert all((tmp_path / "charts" / p).stat().st_size > 1000 for p in pngs)
    else:
        assert "matplotlib is not installed" in out


def test_compare_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"not": "benchmarks"}')
    done = _fastnn("compare", "x.json", "--no-charts", cwd=tmp_path)
    assert done.returncode == 1
    assert "not a pytest-benchmark JSON file" in done.stderr


def test_results_without_a_key_are_left_out(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": [
        {"name": "test_other", "extra_info": {}, "stats": {"median": 1.0}},
        {"name": "test_kernel", "stats": {"median": 2.0},
         "extra_info": {"key": "kernel/sgd_update/10/float32/1t/fastnn", "kernel": "sgd_update",
                        "group": "kernel", "gbytes_per_s": 3.0}}]}))
    run = results.load(path)
    assert run.ignored == 1 and list(run.results) == ["kernel/sgd_update/10/float32/1t/fastnn"]
    table = compare.markdown([run])
    assert "| sgd_update/10/float32/1t | 3 | – | – |" in table   # no reference, no torch


def test_plans_cover_the_issue():
    full = cases.PLANS["full"]
    kernels_in_full = {(c.kernel, c.variant) for c in cases.kernel_cases(full)}
    for act in cases.ACTIVATION_FORWARD:
        assert ("activation_forward", act) in kernels_in_full
    for act in cases.ACTIVATION_DERIVATIVE:
        assert ("activation_derivative", act) in kernels_in_full
    for loss in cases.LOSSES:
        assert ("loss_gradient", loss) in kernels_in_full
    for update in cases.UPDATES:
        assert (update, "") in kernels_in_full
    shapes = {(cases.NETWORKS[n].name, b) for n, b in full.shapes}
    assert shapes == {("784-30-10", 1), ("784-30-10", 10), ("784-30-10", 32),
                      ("784-16-16-10", 1), ("784-16-16-10", 10), ("784-16-16-10", 32),
                      ("784-128-64-10", 64), ("784-128-64-10", 256),
                      ("1024-4096-4096-1024", 256)}
    assert {c.samples for c in cases.training_cases(full, "epoch")} == {60_000}
    assert cases.default_threads()[0] == 1


def test_keys_do_not_name_the_machine(monkeypatch):
    case = cases.kernel_cases(cases.PLANS["tiny"])[0]
    monkeypatch.setattr(cases.os, "cpu_count", lambda: 8)
    on_8 = cases.key("kernel", case, "float32", 8, "fastnn")
    monkeypatch.setattr(cases.os, "cpu_count", lambda: 2)
    assert cases.key("kernel", case, "float32", 2, "fastnn") == on_8
    assert on_8 == "kernel/dense_forward/20x8-sigmoid/b4/float32/all/fastnn"
    assert cases.key("kernel", case, "float32", 1, "fastnn").endswith("/1t/fastnn")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_check_catches_a_wrong_result(monkeypatch, dtype):
    case = cases.KernelCase("dense_forward", (4, 20, 8), "sigmoid")
    assert kernels.check(case, "fastnn", dtype) <= kernels.RTOL[dtype]
    real = kernels.fast.dense_forward

    def off_by_a_little(*args, **kwargs):
        out = real(*args, **kwargs)
        out[0, 0] += 1e-3
        return out
    monkeypatch.setattr(kernels.fast, "dense_forward", off_by_a_little)
    with pytest.raises(AssertionError, match="relative error"):
        kernels.check(case, "fastnn", dtype)


def test_training_check_catches_a_wrong_step(monkeypatch):
    case = cases.TrainingCase("tiny", 4, 4)
    assert training.check(case, "numpy_plain", "float64") < 1e-12
    monkeypatch.setattr(training, "_activate", lambda z, act: np.maximum(z, 0))
    with pytest.raises(AssertionError, match="numpy_plain"):
        training.check(case, "numpy_plain", "float64")


def test_bench_names_the_missing_extra(monkeypatch, capsys):
    monkeypatch.setattr(runner, "missing_requirements", lambda: ["pytest-benchmark"])
    assert runner.run("tiny") == 2
    assert 'needs pytest-benchmark: pip install "fastnn[bench]"' in capsys.readouterr().err
