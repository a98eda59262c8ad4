"""The command line: ``fastnn --version``, one-line usage errors, bench progress, load marks.

Argument errors are checked in-process through :func:`fastnn.__main__.main`
(argparse exits before any work); the ``bench -k`` and ``compare`` file
errors, which are found after parsing, run the real command in a subprocess
(a silent collection, no benchmark runs).  The progress plugin runs on a
small fake suite through pytester; the tiny suite's progress is checked in
``test_bench.py``.
"""

import io
import json
import subprocess
import sys

import pytest

from fastnn import __version__
from fastnn.__main__ import build_parser, main
from fastnn.bench import compare, options, progress, results

pytest_plugins = ["pytester"]


def _fastnn(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastnn", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120, check=False)


def _usage_error(capsys, *argv):
    """Run ``fastnn argv``; it must exit 2 with one line on stderr. Return that line."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == "fastnn %s\n" % __version__


def test_python_m_fastnn_version():
    done = subprocess.run([sys.executable, "-m", "fastnn", "--version"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout == "fastnn %s\n" % __version__


def test_help_is_plain_text_under_the_fastnn_name():
    text = build_parser().format_help()
    assert text.startswith("usage: fastnn ")
    assert "``" not in text and ":mod:" not in text and ":func:" not in text
    for command in ("demo", "info", "tune", "bench", "compare"):
        assert command in text


@pytest.mark.parametrize("argv, flag, value", [
    (["bench", "--threads", "a,b"], "--threads", "'a,b'"),
    (["bench", "--threads", "0"], "--threads", "'0'"),
    (["bench", "--threads", "1,,2"], "--threads", "'1,,2'"),
    (["bench", "--threads", "100000"], "--threads", "'100000'"),
    (["bench", "--dtypes", "float16"], "--dtypes", "'float16'"),
    (["bench", "--dtypes", "float32,int8"], "--dtypes", "'float32,int8'"),
    (["bench", "--out", "no/such/folder/r.json"], "--out", "'no/such/folder/r.json'"),
    (["bench", "--progress", "dots"], "--progress", "'dots'"),
    (["demo", "--epochs", "0"], "--epochs", "'0'"),
    (["demo", "--epochs", "two"], "--epochs", "'two'"),
    (["demo", "--mnist", "no/such/folder"], "--mnist", "'no/such/folder'"),
    (["tune", "--margin", "-0.1"], "--margin", "'-0.1'"),
    (["tune", "--margin", "nan"], "--margin", "'nan'"),
    (["tune", "--margin", "inf"], "--margin", "'inf'"),
    (["compare", "r.json", "--dtype", "float16"], "--dtype", "'float16'"),
    (["compare", "r.json", "--select", "("], "--select", "'('"),
])
def test_bad_value_is_one_line_naming_flag_value_and_accepted(capsys, argv, flag, value):
    line = _usage_error(capsys, *argv)
    assert line.startswith("fastnn %s: error: argument %s: " % (argv[0], flag))
    assert value in line
    assert any(word in line for word in ("expected", "choose from"))


def test_accepted_values_are_named(capsys):
    assert "from 1 to" in _usage_error(capsys, "bench", "--threads", "a,b")
    assert "float32, float64" in _usage_error(capsys, "bench", "--dtypes", "float16")
    assert "'float32', 'float64'" in _usage_error(capsys, "compare", "r.json", "--dtype", "x")


def test_missing_or_unknown_command(capsys):
    assert "demo, info, tune, bench, compare" in _usage_error(capsys)
    assert "invalid choice: 'frob'" in _usage_error(capsys, "frob")


def test_threads_and_dtypes_parse():
    assert options.parse_threads("1,2,1") == [1, 2]
    assert options.parse_dtypes("float64,float32") == ["float64", "float32"]


def test_bench_k_matching_nothing_is_a_usage_error(tmp_path):
    done = _fastnn("bench", "--tiny", "-k", "nomatch", "--out", "r.json", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("fastnn bench: error: -k 'nomatch': none of the ")
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    assert list(tmp_path.iterdir()) == []        # no result file


def test_compare_float16_creates_nothing(tmp_path):
    done = _fastnn("compare", "r.json", "--dtype", "float16", "--charts", "charts", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--dtype" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, message", [
    (None, "cannot read 'r.json': No such file or directory"),
    ("[1, 2]", "not a pytest-benchmark JSON file"),
    ('{"benchmarks": [1]}', "not a pytest-benchmark JSON file"),
    ("not json", "is not JSON"),
])
def test_compare_rejects_unreadable_files_in_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    assert main(["compare", str(path) if content else "r.json", "--no-charts"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn compare: error: ") and err.count("\n") == 1
    assert message in err


def _result_file(path, load_average, cores=2):
    key = "kernel/dense_forward/20x8-sigmoid/b4/float32/1t/fastnn"
    path.write_text(json.dumps({"machine_info": {"fastnn": {"cpu_count": cores}}, "benchmarks": [
        {"name": "test_kernel", "stats": {"median": 1e-6},
         "extra_info": {"key": key, "kernel": "dense_forward", "group": "kernel",
                        "dtype": "float32", "gflops": 1.5, "load_average": load_average}}]}))
    return path


def test_compare_draws_no_chart_and_makes_no_folder_for_an_absent_dtype(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = _result_file(tmp_path / "r.json", [0.1, 0.1])
    assert main(["compare", str(path), "--dtype", "float64",
                 "--charts", str(tmp_path / "charts")]) == 0
    assert "(no charts: no float64 benchmarks)" in capsys.readouterr().out
    assert not (tmp_path / "charts").exists()


@pytest.mark.parametrize("load_average, cores, expected", [
    ([0.5, 1.9], 2, False),
    ([2.0, 2.0], 2, False),           # as many runnable as cores: nobody waited
    ([2.5, 1.0], 2, True),
    ([1.0, 8.1], 8, True),
    ([None, 3.0], 2, True),
    ([None, None], 2, False),
    (None, 2, False),                 # files from before the load was recorded
    ([9.0, 9.0], None, False),        # unknown core count
])
def test_under_load(load_average, cores, expected):
    assert results.under_load(load_average, cores) is expected


@pytest.mark.parametrize("load_average, marked", [([0.2, 0.3], False), ([0.2, 3.5], True)])
def test_tables_mark_results_taken_under_load(tmp_path, load_average, marked):
    run = results.load(_result_file(tmp_path / "r.json", load_average, cores=2))
    table = compare.markdown([run])
    row = next(line for line in table.splitlines() if line.startswith("| dense_forward/"))
    assert row.split(" | ")[1] == ("1.5!" if marked else "1.5")
    legend = "! taken under load: the 1-minute load average before or after the timing " \
             "was above the 2 cores"
    assert (legend in table) is marked


def test_load_legend_names_each_machines_cores(tmp_path):
    runs = [results.load(_result_file(tmp_path / "a.json", [3.0, 3.0], cores=2)),
            results.load(_result_file(tmp_path / "b.json", [1.0, 1.0], cores=8))]
    assert compare.load_legend(["A", "B"], runs).endswith("above each machine's cores (A: 2, B: 8)")


FAKE_SUITE = """
import pytest

@pytest.mark.parametrize("key", ["kernel/a/1t/fastnn", "kernel/b/1t/fastnn", "kernel/c/1t/torch"])
def test_bench(key):
    if key.endswith("torch"):
        pytest.skip("PyTorch is not installed")
    assert key != "kernel/b/1t/fastnn", "wrong result"
"""


def test_progress_lines_replace_pytests_dots_and_keep_its_failure_report(pytester):
    pytester.makepyfile(FAKE_SUITE)
    out = io.StringIO()
    result = pytester.runpytest_inprocess(
        "-q", "-o", "console_output_style=classic",
        plugins=[progress.Progress(file=out, style="lines")])
    assert out.getvalue().splitlines() == [
        "[1/3] 0:00 kernel/a/1t/fastnn passed",
        "[2/3] 0:00 kernel/b/1t/fastnn failed",
        "[3/3] 0:00 kernel/c/1t/torch skipped"]
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    text = result.stdout.str()
    assert "wrong result" in text                        # pytest's failure report stays
    assert not any(line.startswith((".F", "Fs", ".Fs")) for line in text.splitlines())


def test_progress_bar_on_a_terminal(pytester):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    pytester.makepyfile(FAKE_SUITE)
    out = Terminal()
    pytester.runpytest_inprocess("-q", plugins=[progress.Progress(file=out)])
    drawn = [part.rstrip() for part in out.getvalue().split("\r") if part.strip()]
    assert drawn[0].startswith("bench [") and drawn[0].endswith("0/3  0:00  kernel/a/1t/fastnn")
    assert "3/3" in drawn[-1] and "1 failed" in drawn[-1] and drawn[-1].endswith(" s")
    assert out.getvalue().endswith("\n")


def test_progress_none_prints_nothing(pytester):
    pytester.makepyfile(FAKE_SUITE)
    out = io.StringIO()
    pytester.runpytest_inprocess("-q", plugins=[progress.Progress(file=out, style="none")])
    assert out.getvalue() == ""


def test_benchmark_name_is_the_parameter_id():
    assert progress.benchmark_name("suite.py::test_kernel[kernel/x/1t/fastnn]") == \
        "kernel/x/1t/fastnn"
    assert progress.benchmark_name("suite.py::test_other") == "suite.py::test_other"
