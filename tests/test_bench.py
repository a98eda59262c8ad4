"""The benchmark suite's machinery: ``python -m fastnn bench`` and ``compare``.

Runs the real commands in subprocesses on the ``tiny`` plan (seconds; its
figures mean nothing), and checks the pieces that make results trustworthy and
comparable: every implementation is checked against the reference before it
is timed, keys do not depend on the machine, and runs line up by key; the
machine facts a run records (CPU, ISA path, GEMM routes, BLAS core type, the
measured peak) and how ``compare`` marks runs that differ in them.  The JAX
peer's tests skip without JAX, the data-parallel benchmark's (``mpiexec``
jobs) without mpi4py or mpiexec; everything else runs without them.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn._kernels import _blas
from fastnn.bench import cases, compare, data_parallel, jax_peer, kernels, machine, peak
from fastnn.bench import results, runner, training

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
needs_jax = pytest.mark.skipif(not jax_peer.available(), reason="JAX is not installed")
needs_mpi = pytest.mark.skipif(data_parallel.missing() is not None,
                               reason=str(data_parallel.missing()))


def _fastnn(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "fastnn", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600, check=False,
                          env=None if env is None else {**os.environ, **env})


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    """``python -m fastnn bench --quick --tiny`` on one thread: the finished process."""
    cwd = tmp_path_factory.mktemp("bench")
    done = _fastnn("bench", "--quick", "--tiny", "--threads", "1", "--out", "run.json", cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fastnn bench: tiny plan" in done.stdout
    done.json = cwd / "run.json"
    return done


@pytest.fixture(scope="module")
def tiny_run(tiny_bench):
    """The JSON that :func:`tiny_bench` wrote."""
    return tiny_bench.json


def test_bench_reports_progress_per_benchmark(tiny_bench):
    # Standard error is a pipe here: one plain line per finished benchmark,
    # "[done/total] m:ss key outcome", in place of pytest's dots.
    n = len(json.loads(tiny_bench.json.read_text())["benchmarks"])
    lines = [line for line in tiny_bench.stderr.splitlines() if line.startswith("[")]
    total = len(lines)
    assert total >= n > 0
    for done, line in enumerate(lines, 1):
        match = re.fullmatch(r"\[ *(\d+)/(\d+)\] \d+:\d\d (\S+) (passed|skipped)", line)
        assert match, line
        assert (int(match[1]), int(match[2])) == (done, total)
        assert match[3].count("/") >= 5
    assert sum(line.endswith(" passed") for line in lines) == n
    assert "..." not in tiny_bench.stdout


def test_results_record_the_load_they_were_taken_under(tiny_run):
    data = json.loads(tiny_run.read_text())
    cores = data["machine_info"]["fastnn"]["cpu_count"]
    run = results.load(tiny_run)
    for b in data["benchmarks"]:
        before, after = b["extra_info"]["load_average"]
        assert before >= 0 and after >= 0
        marked = run.results[b["extra_info"]["key"]]["under_load"]
        assert marked == (max(before, after) > cores)


def test_bench_writes_pytest_benchmark_json(tiny_run):
    data = json.loads(tiny_run.read_text())
    info = data["machine_info"]["fastnn"]
    for field in ("cpu", "cpu_signature", "simd", "cpu_count", "openmp", "num_threads", "blas",
                  "compile_args", "native", "plan", "peak_gflops", "load_average",
                  "cpu_family", "cpu_model", "cpu_stepping", "isa", "available_isas",
                  "openblas_coretype", "routes", "core_peak_gflops", "gemm_gflops", "jax"):
        assert field in info, field
    assert info["plan"] == "tiny"
    assert info["isa"] == fastnn.get_isa() and info["available_isas"] == fastnn.available_isas()
    assert (info["cpu_family"], info["cpu_model"], info["cpu_stepping"]) == \
        fastnn._kernels._cpu.cpu_signature()
    assert info["routes"] == machine.gemm_routes()
    # one thread; and P ranks x 1 thread on the data-parallel benchmarks' P cores
    cores = {1} | {c.ranks for shape in cases.PLANS["tiny"].data_parallel
                   for c, _ in cases.data_parallel_layouts(shape, [1])
                   if data_parallel.missing() is None}
    assert set(info["peak_gflops"]) == set(info["gemm_gflops"]) == {
        "%s/%d" % (dtype, n) for dtype in ("float32", "float64") for n in cores}
    for name, p in info["peak_gflops"].items():
        dtype, threads = name.split("/")
        assert p["method"] == "fma_loop" and p["isa"] == info["isa"]
        assert p["threads"] == int(threads)
        assert p["gflops"] == int(threads) * p["per_core"]
        assert p["per_core"] == info["core_peak_gflops"][dtype]
    assert all("data" not in b["stats"] for b in data["benchmarks"])
    keys = {b["extra_info"]["key"] for b in data["benchmarks"]}
    expected = [cases.key(group, case, dtype, 1, impl)
                for group, found in (("kernel", cases.kernel_cases(cases.PLANS["tiny"])),
                                     ("step", cases.training_cases(cases.PLANS["tiny"], "step")),
                                     ("epoch", cases.training_cases(cases.PLANS["tiny"], "epoch")),
                                     ("contention",
                                      cases.training_cases(cases.PLANS["tiny"], "contention")))
                for case in found for dtype in ("float32", "float64")
                for impl in {"kernel": cases.KERNEL_IMPLS,
                             "contention": ("fastnn",)}.get(group, cases.TRAINING_IMPLS)
                if (impl != "torch" or training.torch_module() is not None)
                and (impl != "jax" or jax_peer.available())]
    if data_parallel.missing() is None:
        expected += _data_parallel_keys()
    assert keys == set(expected)
    for b in data["benchmarks"]:
        extra = b["extra_info"]
        assert extra["check_error"] <= kernels.RTOL[extra["dtype"]], extra["key"]
        assert ("gflops" in extra) or ("gbytes_per_s" in extra), extra["key"]
        if "gflops" in extra:
            assert 0 < extra["fraction_of_peak"] == pytest.approx(
                extra["gflops"] / extra["peak_gflops"])
            assert extra["fraction_of_peak"] < 1, extra["key"]     # a peak is a ceiling
        if extra["impl"] == "jax":
            assert extra["steps_per_call"] >= 1
            # absent when the timed call was too short to tell (a tiny run)
            assert extra.get("busy_threads", 1) >= 1
        if extra["group"] == "contention":      # timed beside one busy loop per CPU
            assert extra["competing_processes"] == fastnn._cpus.available_cpus() >= 1
            # its peers, alternating with it call by call
            assert extra["side_by_side_rounds"] == 1
            assert extra["one_thread_samples_per_s"] > 0
            if jax_peer.available():
                assert extra["jax_samples_per_s"] > 0
                assert extra["jax_check_error"] <= kernels.RTOL[extra["dtype"]]
            else:
                assert "jax_samples_per_s" not in extra
        if extra["group"] != "kernel" or not extra["kernel"].endswith("update"):
            assert extra["samples_per_s"] > 0, extra["key"]


def _data_parallel_keys():
    """The data-parallel keys of the tiny plan on one thread per rank."""
    return [cases.key("data_parallel", case, dtype, n, "fastnn")
            for shape in cases.PLANS["tiny"].data_parallel for dtype in ("float32", "float64")
            for case, n in cases.data_parallel_layouts(shape, [1])]


@needs_mpi
def test_data_parallel_runs_in_mpiexec_jobs(tiny_run):
    # Every layout, one rank included, ran as an mpiexec job training with comm.
    data = json.loads(tiny_run.read_text())
    found = {b["extra_info"]["key"]: b["extra_info"] for b in data["benchmarks"]
             if b["extra_info"]["group"] == "data_parallel"}
    assert set(found) == set(_data_parallel_keys())
    assert "data_parallel/20-8-4/b4/1r/float32/1t/fastnn" in found
    tiny = cases.NETWORKS["tiny"]
    for key, info in found.items():
        ranks = int(key.split("/")[3].rstrip("r"))
        assert info["ranks"] == ranks and info["threads_per_rank"] == info["threads"] == 1
        assert (info["network"], info["batch"], info["steps_per_epoch"]) == ("20-8-4", 4, 16)
        assert info["samples"] == 64 and info["samples_per_s"] > 0
        assert 0 <= info["check_error"] <= kernels.RTOL[info["dtype"]], key
        assert len(info["load_average"]) == 2
        if ranks > 1:
            assert info["allreduce_us"] > 0
            assert info["bytes_per_step"] == tiny.n_params() * np.dtype(info["dtype"]).itemsize
        else:
            assert "allreduce_us" not in info and "bytes_per_step" not in info
    out = compare.markdown([results.load(tiny_run)]).splitlines()
    at = out.index("### " + compare.DATA_PARALLEL)
    assert out[at + 2] == ("| benchmark | A fastnn | A ×1r1t | A %peak | A allreduce µs | "
                           "A MB/step |")
    rows = {}
    for line in out[at + 4:]:
        if not line.startswith("| "):
            break
        name, *cells = [c.strip() for c in line.strip("| ").split("|")]
        rows[name] = cells
    assert set(rows) == {key.split("/", 1)[1].rsplit("/", 1)[0] for key in found}
    # %peak is a measured fraction (its digits depend on the machine): only its form
    one_rank = rows["20-8-4/b4/1r/float32/1t"]
    assert one_rank[1] == "1.00×" and one_rank[3:] == ["–", "–"]
    assert re.fullmatch(r"\d+\.\d%", one_rank[2]), one_rank
    for name, (_, over_one, _, allreduce, mb) in rows.items():
        if "/1r/" not in name:
            assert over_one.endswith("×") and float(allreduce) > 0 and float(mb) > 0


def test_compare_shows_the_data_parallel_section():
    # Without MPI too: the section from results as the suite records them.
    def result(ranks, threads, samples_per_s, **info):
        key = "data_parallel/784-128-64-10/b256/%dr/float32/%s/fastnn" % (
            ranks, cases.threads_label(threads))
        return {"key": key, "group": "data_parallel", "dtype": "float32", "impl": "fastnn",
                "network": "784-128-64-10", "batch": 256, "ranks": ranks, "threads": threads,
                "samples_per_s": samples_per_s, "fraction_of_peak": 0.25, "median_s": 1.0,
                **info}
    layouts = [result(1, 1, 100_000.0), result(1, 2, 150_000.0),
               result(2, 1, 180_000.0, allreduce_us=35.0, bytes_per_step=437_544)]
    run = results.Run("dp.json", {"cpu_count": 2}, {r["key"]: r for r in layouts})
    table = compare.markdown([run])
    assert "### " + compare.DATA_PARALLEL in table
    assert "| 784-128-64-10/b256/2r/float32/1t | 180,000 | 1.80× | 25.0% | 35 | 0.438 |" in table
    assert "| 784-128-64-10/b256/1r/float32/1t | 100,000 | 1.00× | 25.0% | – | – |" in table
    # the products of each rank's share of the batch
    assert compare.products(layouts[2])[0] == (128, 128, 784, False, False)
    assert compare.products(layouts[0])[0] == (256, 128, 784, False, False)


def test_compare_shows_contention_against_the_peers_timed_beside_it():
    # The current layout: one row, its 1-thread and JAX figures in extra_info ...
    def result(key, samples_per_s, **info):
        return {"key": key, "group": "contention", "dtype": "float32", "impl": "fastnn",
                "network": "784-30-10", "batch": 10, "threads": 2, "median_s": 1.0,
                "samples_per_s": samples_per_s, "fraction_of_peak": 0.1, **info}
    side_by_side = result("contention/784-30-10/b10/float32/all/fastnn", 300_000.0,
                          one_thread_samples_per_s=250_000.0, jax_samples_per_s=100_000.0)
    run = results.Run("c.json", {"cpu_count": 2}, {side_by_side["key"]: side_by_side})
    table = compare.markdown([run])
    assert "### " + compare.CONTENTION in table
    assert "| 784-30-10/b10/float32/all | 300,000 | 3.00× | 1.20× | 10.0% |" in table
    # ... and the older one: separate rows for 1 thread and for JAX
    rows = [result("contention/784-30-10/b10/float32/all/fastnn", 300_000.0),
            result("contention/784-30-10/b10/float32/1t/fastnn", 200_000.0),
            {**result("contention/784-30-10/b10/float32/all/jax", 150_000.0), "impl": "jax"}]
    table = compare.markdown([results.Run("old.json", {"cpu_count": 2},
                                          {r["key"]: r for r in rows})])
    assert "| 784-30-10/b10/float32/all | 300,000 | 2.00× | 1.50× | 10.0% |" in table


def test_data_parallel_names_what_is_missing(monkeypatch):
    real = data_parallel.importlib.util.find_spec
    monkeypatch.setattr(data_parallel.importlib.util, "find_spec",
                        lambda name: None if name == "mpi4py" else real(name))
    assert "mpi4py is not installed" in data_parallel.missing()
    monkeypatch.setattr(data_parallel.importlib.util, "find_spec", real)
    monkeypatch.setattr(data_parallel.shutil, "which", lambda name: None)
    monkeypatch.setattr(data_parallel.sys, "executable", "/nowhere/python")
    assert data_parallel.missing() == "no mpiexec beside /nowhere/python or on PATH " \
        "(pip install mpich)"


def test_data_parallel_layouts(monkeypatch):
    monkeypatch.setattr(cases.os, "cpu_count", lambda: 4)
    layouts = cases.data_parallel_layouts(("mlp", 256, 60_000), [1, 4])
    assert [(c.ranks, n) for c, n in layouts] == [(1, 1), (1, 4), (4, 1)]
    assert [cases.key("data_parallel", c, "float32", n, "fastnn") for c, n in layouts] == [
        "data_parallel/784-128-64-10/b256/1r/float32/1t/fastnn",
        "data_parallel/784-128-64-10/b256/1r/float32/all/fastnn",
        "data_parallel/784-128-64-10/b256/4r/float32/1t/fastnn"]
    monkeypatch.setattr(cases.os, "cpu_count", lambda: 1)
    assert [(c.ranks, n) for c, n in cases.data_parallel_layouts(("mlp", 256, 60_000), [1])] \
        == [(1, 1)]
    for plan in ("full", "quick"):
        assert cases.PLANS[plan].data_parallel == (("mlp", 256, 60_000), ("large", 256, 2048))


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
    # B's fastnn is twice as fast, on the same ISA path and routes as A's.
    assert row.rstrip(" |").endswith("| 2.00× | –")
    if HAS_MATPLOTLIB:
        pngs = sorted(p.name for p in (tmp_path / "charts").glob("*.png"))
        assert "throughput-dense-layers.png" in pngs and "speedup-training-step.png" in pngs
        assert all((tmp_path / "charts" / p).stat().st_size > 1000 for p in pngs)
    else:
        assert "matplotlib is not installed" in out


def test_compare_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"not": "benchmarks"}')
    done = _fastnn("compare", "x.json", "--no-charts", cwd=tmp_path)
    assert done.returncode == 2
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


def test_peak_is_measured_once_per_path_and_scales_with_threads():
    for isa in fastnn.available_isas():
        for dtype in ("float32", "float64"):
            core = peak.core_peak(dtype, isa)
            assert core["isa"] == isa and core["method"] == "fma_loop" and core["gflops"] > 0
            assert peak.core_peak(dtype, isa) is core             # cached: measured once
    two = peak.peak("float32", 2)
    assert two["gflops"] == 2 * two["per_core"] == 2 * peak.core_peak("float32")["gflops"]
    assert two["isa"] == fastnn.get_isa()
    with pytest.raises(ValueError, match="cannot run"):
        peak.core_peak("float32", "neon" if "neon" not in fastnn.available_isas() else "avx2")


def test_gemm_routes_ask_the_routing():
    routes = machine.gemm_routes()
    shapes = machine.route_shapes()
    assert len(routes) == 2 * len(shapes) and len(set(shapes)) == len(shapes)
    assert (10, 30, 784, False, False) in shapes and (784, 30, 10, True, False) in shapes
    for (m, n, k, ta, tb) in shapes:
        for dtype in ("float32", "float64"):
            route = routes[machine.route_key(m, n, k, ta, tb, dtype)]
            assert route == _blas.gemm_route(m, n, k, ta, tb, dtype == "float64")
            assert route in ("small", "packed", "blas")
    assert machine.route_key(10, 30, 784, False, True, "float64") == "NT 10x30x784 float64"


def test_info_names_cpu_isa_blas_peak_and_routes(tmp_path):
    done = _fastnn("info", cwd=tmp_path, env={"OPENBLAS_CORETYPE": "Haswell"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    family, model, stepping = fastnn._kernels._cpu.cpu_signature()
    assert "family %d model %d stepping %d" % (family, model, stepping) in out
    assert "ISA path:  %s (available: %s)" % (fastnn.get_isa(),
                                               ", ".join(fastnn.available_isas())) in out
    assert "OPENBLAS_CORETYPE=Haswell" in out
    assert "peak:      float32 " in out and "per core on the %s path" % fastnn.get_isa() in out
    assert "gemm " in out and " products, e.g. " in out


def test_products_of_a_benchmark():
    assert compare.products({"kernel": "dense_forward", "shape": [10, 784, 30]}) == [
        (10, 30, 784, False, False)]
    assert compare.products({"kernel": "dense_backward", "shape": [10, 784, 30]}) == [
        (784, 30, 10, True, False), (10, 784, 30, False, True)]
    assert compare.products({"group": "step", "network": "784-30-10", "batch": 10}) == [
        (10, 30, 784, False, False), (784, 30, 10, True, False),
        (10, 10, 30, False, False), (30, 10, 10, True, False), (10, 30, 10, False, True)]
    assert compare.products({"kernel": "sgd_update", "group": "kernel"}) == []


def test_compare_marks_other_isa_paths_and_routes(tmp_path):
    # Two runs of the dense kernels on one CPU: the best path, and FASTNN_ISA=portable.
    best = fastnn.available_isas()[0]
    runs = []
    for name, env in (("best.json", {"FASTNN_ISA": best}),
                      ("portable.json", {"FASTNN_ISA": "portable"})):
        done = _fastnn("bench", "--tiny", "--threads", "1", "--dtypes", "float32", "-k",
                       "dense_forward", "--out", name, cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        runs.append(json.loads((tmp_path / name).read_text()))
    assert runs[1]["machine_info"]["fastnn"]["isa"] == "portable"
    # A second CPU whose routing sends the tiny forward product elsewhere.
    key = machine.route_key(4, 8, 20, False, False, "float32")
    other = json.loads(json.dumps(runs[0]))
    info = other["machine_info"]["fastnn"]
    info.update(cpu="Other CPU", cpu_signature="family 6 model 85 stepping 4")
    routes_a = runs[0]["machine_info"]["fastnn"]["routes"]
    info["routes"][key] = "blas" if routes_a[key] != "blas" else "small"
    (tmp_path / "other.json").write_text(json.dumps(other))
    done = _fastnn("compare", "best.json", "portable.json", "other.json", "--no-charts",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    isa_row = next(line for line in out if line.startswith("| ISA path |"))
    assert "| %s | portable ≠ | %s |" % (best, best) in isa_row
    assert any(line.startswith("| CPU |") and "Other CPU ≠" in line for line in out)
    assert any(line.startswith("| family/model/stepping |") and "model 85 stepping 4 ≠" in line
               for line in out)
    routes_row = next(line for line in out if line.startswith("| GEMM routes differing"))
    assert routes_row.split("|")[4].strip().startswith("1 of ")
    header = next(line for line in out if line.startswith("| benchmark"))
    assert header.rstrip(" |").endswith("runs differently from A")
    row = next(line for line in out if line.startswith("| dense_forward/20x8-sigmoid/b4/"))
    mark = row.rstrip(" |").rsplit("|", 1)[1]
    if best != "portable":
        assert "B: isa %s→portable" % best in mark
    assert "C: NN 4x8x20 %s→%s" % (routes_a[key], info["routes"][key]) in mark


def test_speedups_compare_samples_per_second():
    fast = {"median_s": 1.0, "samples_per_s": 100.0}
    jax_call = {"median_s": 3.0, "samples_per_s": 50.0}     # a call of several steps
    assert compare._speedup(fast, jax_call) == 2.0
    assert compare._speedup({"median_s": 1.0}, {"median_s": 3.0}) == 3.0


def test_jax_worker_environment_sets_xla_threads():
    env = jax_peer.worker_env(3, {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "PJRT_NPROC": "3", "JAX_PLATFORMS": "cpu"}


@needs_jax
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_jax_peer_trains_like_fastnn(dtype):
    case = cases.TrainingCase("tiny", 4, 4)
    assert training.check(case, "jax", dtype) <= kernels.RTOL[dtype]
    assert training.check_epoch(case, "jax", dtype) <= kernels.RTOL[dtype]


@needs_jax
def test_jax_peer_runs_on_the_thread_count_it_is_given():
    case = cases.TrainingCase("mlp", 64, 64 * 1000)   # an epoch of many clock ticks
    trainer = jax_peer.JaxTrainer(case, "float32", case.samples, threads=1)
    trainer.epoch()                             # compiles
    trainer.epoch()
    use = trainer.thread_use()
    assert use is not None, "the epoch was too short to measure: make the case larger"
    assert use["busy_threads"] == 1
    trainer.calibrate(0.002)
    trainer.step()
    assert trainer.steps_per_call >= 1 and trainer.last_seconds > 0
