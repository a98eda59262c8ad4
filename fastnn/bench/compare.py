"""``python -m fastnn compare A.json B.json ...``: results of several runs side by side.

Each input file (one CPU, thread setting or build) is a column group, labelled
A, B, ... with its machine in the legend.  Rows are benchmarks, lined up by
their stable key without the implementation (``kernel/dense_forward/
784x30-sigmoid/b10/float32/1t``); ``1t`` rows are one thread, ``all`` rows
every core of each machine.  Per run, the table shows fastnn's figure
(GFLOP/s for dense kernels, GB/s for elementwise kernels and optimizer
updates, samples/s for training), fastnn's speedup over the NumPy reference
(``×numpy``), over PyTorch (``×torch``; and over plain NumPy and JAX for
training),
and the fraction of that machine's peak GEMM rate (``%peak``); then fastnn's
figure in each run over the first run's.  The output is Markdown.
"""

import argparse
import math
import os
import re
import sys

from fastnn.bench import results as _results

#: Table sections: title, the benchmarks in it, and the figure shown.
SECTIONS = (
    ("Dense layers (GFLOP/s)", lambda r: r.get("kernel", "").startswith("dense"), "gflops"),
    ("Activations and losses (GB/s)",
     lambda r: r.get("kernel", "").startswith(("activation", "loss")), "gbytes_per_s"),
    ("Optimizer updates (GB/s)", lambda r: r.get("kernel", "").endswith("_update"),
     "gbytes_per_s"),
    ("Training step (samples/s)", lambda r: r.get("group") == "step", "samples_per_s"),
    ("Training epoch (samples/s)", lambda r: r.get("group") == "epoch", "samples_per_s"),
)


def _row_key(key):
    return key.rsplit("/", 1)[0]


def _fmt(value):
    if value is None or not math.isfinite(value):
        return "–"
    if value >= 1000:
        return f"{value:,.0f}"
    return "%.3g" % value


def _ratio(value):
    return "–" if value is None else "%.2f×" % value


def _speedup(fast, other):
    """fastnn's speedup over ``other``: by samples/s when both have it (a JAX
    step call makes several steps), else by time per call."""
    if fast.get("samples_per_s") and other.get("samples_per_s"):
        return fast["samples_per_s"] / other["samples_per_s"]
    return other["median_s"] / fast["median_s"]


def rows(runs, select, metric):
    """The figures of one table section.

    Parameters
    ----------
    runs : list of Run
    select : callable
        Takes a result's ``extra_info``, says whether it belongs here.
    metric : str
        The ``extra_info`` field shown for fastnn.

    Returns
    -------
    list of (row key, list of dict per run)
        Per run: ``value`` (fastnn's figure or None), ``speedup`` (a dict
        impl → fastnn's speedup over it), ``fraction`` (of peak, or None).
    """
    keys = []
    for run in runs:
        for key, r in run.results.items():
            if select(r) and _row_key(key) not in keys:
                keys.append(_row_key(key))
    table = []
    for row in keys:
        cells = []
        for run in runs:
            fast = run.results.get(row + "/fastnn")
            speedup = {}
            for impl in ("numpy", "numpy_plain", "torch", "jax"):
                other = run.results.get(row + "/" + impl)
                if fast and other:
                    speedup[impl] = _speedup(fast, other)
            cells.append({"value": fast.get(metric) if fast else None, "speedup": speedup,
                          "fraction": fast.get("fraction_of_peak") if fast else None})
        table.append((row, cells))
    return table


def markdown(runs):
    """Every section as a Markdown table, with the legend of the runs.

    Parameters
    ----------
    runs : list of Run

    Returns
    -------
    str
    """
    names = [chr(ord("A") + i) if i < 26 else "R%d" % i for i in range(len(runs))]
    lines = []
    for name, run in zip(names, runs):
        load = run.machine.get("load_average") or [None, None]
        lines.append("- **%s** `%s`: %s, plan %s, fastnn %s, torch %s, load average %s" % (
            name, os.path.basename(run.path), run.label, run.machine.get("plan", "?"),
            run.machine.get("version", "?"), run.machine.get("torch") or "absent",
            " → ".join("?" if x is None else "%.1f" % x for x in load)))
        if run.ignored:
            lines.append("  (%d benchmarks without a fastnn key left out)" % run.ignored)
    lines += ["", ("Peak GEMM (GFLOP/s; best of fastnn's BLAS and NumPy's matmul, "
                   "square, side in brackets):"), ""]
    peaks = sorted({k for run in runs for k in run.machine.get("peak_gflops", {})})
    lines.append("| dtype/threads | " + " | ".join(names) + " |")
    lines.append("|---|" + "---:|" * len(runs))
    for k in peaks:
        cells = []
        for run in runs:
            p = run.machine.get("peak_gflops", {}).get(k)
            cells.append("%s (%d)" % (_fmt(p["gflops"]), p["size"]) if p else "–")
        lines.append("| %s | %s |" % (k, " | ".join(cells)))
    for title, select, metric in SECTIONS:
        table = rows(runs, select, metric)
        if not table:
            continue
        training = metric == "samples_per_s"
        impls = ("numpy", "numpy_plain", "torch", "jax") if training else ("numpy", "torch")
        show_peak = metric in ("gflops", "samples_per_s")
        head = ["benchmark"]
        for name in names:
            head += ["%s fastnn" % name] + ["%s ×%s" % (name, i.replace("numpy_plain", "plain"))
                                             for i in impls]
            if show_peak:
                head.append("%s %%peak" % name)
        head += ["%s/A" % name for name in names[1:]]
        lines += ["", "### " + title, "", "| " + " | ".join(head) + " |",
                  "|---|" + "---:|" * (len(head) - 1)]
        for row, cells in table:
            out = [row.split("/", 1)[1]]
            for c in cells:
                out.append(_fmt(c["value"]))
                out += [_ratio(c["speedup"].get(i)) for i in impls]
                if show_peak:
                    out.append("–" if c["fraction"] is None else "%.1f%%" % (100 * c["fraction"]))
            first = cells[0]["value"]
            for c in cells[1:]:
                out.append(_ratio(c["value"] / first) if first and c["value"] else "–")
            lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines)


def main(argv=None, file=None):
    """Entry point of ``python -m fastnn compare``.

    Parameters
    ----------
    argv : list of str, optional
        ``FILE.json ... [--charts DIR] [--no-charts] [--dtype DTYPE]``.
    file : file-like, optional
        Where to print the tables (default: standard output).

    Returns
    -------
    int
        0, or 1 when a file cannot be read.
    """
    parser = argparse.ArgumentParser(prog="python -m fastnn compare", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args.files, None if args.no_charts else args.charts, args.dtype, file,
               args.select)


def add_arguments(parser):
    """Add ``compare``'s arguments to an argparse parser."""
    parser.add_argument("files", nargs="+", metavar="FILE.json",
                        help="pytest-benchmark JSON files (python -m fastnn bench --out, "
                             "or pytest benchmarks/ --benchmark-json)")
    parser.add_argument("--charts", metavar="DIR", default="fastnn-charts",
                        help="directory of the PNG charts, drawn when matplotlib is "
                             "installed (default: fastnn-charts)")
    parser.add_argument("--no-charts", action="store_true", help="draw no charts")
    parser.add_argument("--dtype", default="float32",
                        help="dtype of the benchmarks charted (default float32)")
    parser.add_argument("--select", metavar="REGEX",
                        help="only the benchmarks whose key matches this regular expression, "
                             "e.g. 'float32/1t'")


def run(files, charts=None, dtype="float32", file=None, select=None):
    """Print the tables of ``files`` and draw the charts into ``charts``.

    Parameters
    ----------
    files : list of str
    charts : str, optional
        Directory for the PNG charts; none drawn when None.
    dtype : str
        The charts show this dtype's benchmarks.
    file : file-like, optional
    select : str, optional
        Regular expression: only the benchmarks whose key it matches (search).

    Returns
    -------
    int
        0 on success, 1 when a file cannot be read.  Without matplotlib the
        charts are skipped with a note.
    """
    file = file or sys.stdout
    try:
        runs = [_results.load(f) for f in files]
        if select:
            pattern = re.compile(select)
            for r in runs:
                r.results = {k: v for k, v in r.results.items() if pattern.search(k)}
    except (OSError, ValueError, re.error) as exc:
        print("fastnn compare: %s" % exc, file=sys.stderr)
        return 1
    print(markdown(runs), file=file)
    if charts:
        from fastnn.bench import charts as _charts
        if _charts.available():
            written = _charts.draw(runs, charts, dtype)
            print("\ncharts: " + ", ".join(written), file=file)
        else:
            print("\n(no charts: matplotlib is not installed)", file=file)
    return 0
