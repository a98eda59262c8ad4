"""``fastnn compare A.json B.json ...``: results of several runs side by side.

Each input file (one CPU, thread setting or build) is a column group, labelled
A, B, ... with its machine in the legend.  Rows are benchmarks, lined up by
their stable key without the implementation (``kernel/dense_forward/
784x30-sigmoid/b10/float32/1t``); ``1t`` rows are one thread, ``all`` rows
every core of each machine.  Per run, the table shows fastnn's figure
(GFLOP/s for dense kernels, GB/s for elementwise kernels and optimizer
updates, samples/s for training), fastnn's speedup over the NumPy reference
(``×numpy``), over PyTorch (``×torch``; and over plain NumPy and JAX for
training), and the fraction of that machine's peak rate (``%peak``: threads
× one core's multiply-add rate on the ISA path the run used; ranks × threads
on MPI); then fastnn's figure in each run over the first run's (under
contention: also fastnn over itself on 1 thread, timed alternating with it
beside the same busy processes, as its JAX figure is; data-parallel training
on MPI: fastnn over its own row on one rank and one thread, ``×1r1t``, and on
several ranks the gradient sum's µs and megabytes per step), and, for the
benchmarks that multiply
matrices, what fastnn ran differently from the first run: another
instruction-set path, or a product ``gemm`` routed elsewhere (own small
kernel, own packed kernel, BLAS).  A table of the machines (CPU,
family/model/stepping, ISA path, BLAS kernel, ``OPENBLAS_CORETYPE``, peak)
marks with ≠ what differs from the first run.  A ``!`` after fastnn's figure
marks a row whose results (fastnn's or a peer's) were taken under load: the
1-minute load average was above the machine's core count
(:func:`fastnn.bench.results.under_load`; not marked under contention, whose
load is the point).  The output is Markdown.
"""

import argparse
import math
import os
import re
import sys

from fastnn.bench import machine as _machine
from fastnn.bench import options
from fastnn.bench import results as _results

#: Every implementation a row can hold.
IMPLS = ("fastnn", "numpy", "numpy_plain", "torch", "jax")

#: The mark of a figure taken under load.
LOAD_MARK = "!"

CONTENTION = ("Training beside one busy process per CPU (samples/s; ×1t and ×jax: over "
              "fastnn on 1 thread and JAX, alternating with it under the same load)")
DATA_PARALLEL = "Data-parallel training on MPI (samples/s; ×1r1t: over one rank on one thread)"

#: Table sections: title, the benchmarks in it, and the figure shown.
SECTIONS = (
    ("Dense layers (GFLOP/s)", lambda r: r.get("kernel", "").startswith("dense"), "gflops"),
    ("Activations and losses (GB/s)",
     lambda r: r.get("kernel", "").startswith(("activation", "loss")), "gbytes_per_s"),
    ("Optimizer updates (GB/s)", lambda r: r.get("kernel", "").endswith("_update"),
     "gbytes_per_s"),
    ("Training step (samples/s)", lambda r: r.get("group") == "step", "samples_per_s"),
    ("Training epoch (samples/s)", lambda r: r.get("group") == "epoch", "samples_per_s"),
    (CONTENTION, lambda r: r.get("group") == "contention", "samples_per_s"),
    (DATA_PARALLEL, lambda r: r.get("group") == "data_parallel", "samples_per_s"),
)


def _one_thread(row):
    """The contention row of fastnn on one thread beside ``row``."""
    return row.rsplit("/", 1)[0] + "/1t"


def _one_rank_one_thread(row):
    """The data-parallel row of one rank on one thread beside ``row``
    (``data_parallel/<sizes>/b<batch>/<P>r/<dtype>/<threads>``)."""
    parts = row.split("/")
    parts[-3], parts[-1] = "1r", "1t"
    return "/".join(parts)


#: Sections with a column of fastnn over its own row in another layout:
#: title → (column, that row's key from this row's).
BASELINES = {CONTENTION: ("×1t", _one_thread), DATA_PARALLEL: ("×1r1t", _one_rank_one_thread)}


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
        impl → fastnn's speedup over it), ``fraction`` (of peak, or None),
        ``info`` (fastnn's result, empty when absent), ``under_load``
        (whether any implementation's result of the row was taken under load).
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
            if fast and fast.get("jax_samples_per_s"):    # contention: its JAX, side by side
                speedup["jax"] = fast["samples_per_s"] / fast["jax_samples_per_s"]
            under_load = any(run.results.get(row + "/" + impl, {}).get("under_load")
                             for impl in IMPLS)
            cells.append({"value": fast.get(metric) if fast else None, "speedup": speedup,
                          "fraction": fast.get("fraction_of_peak") if fast else None,
                          "info": fast or {}, "under_load": under_load})
        table.append((row, cells))
    return table


def products(info):
    """The matrix products a benchmark runs, from its ``extra_info``.

    Returns
    -------
    list of (m, n, k, trans_a, trans_b)
        A dense forward: Z = X·W; a dense backward: dW = Xᵀ·dZ and dX = dZ·Wᵀ;
        a training step or epoch: those of every layer (no dX in the first),
        at each rank's share of the batch on P ranks (the rows a rank holds
        of each global batch vary around it); nothing for elementwise kernels.
    """
    kernel = info.get("kernel", "")
    if kernel in ("dense_forward", "dense_backward"):
        b, n_in, n_out = info["shape"]
        if kernel == "dense_forward":
            return [(b, n_out, n_in, False, False)]
        return [(n_in, n_out, b, True, False), (b, n_in, n_out, False, True)]
    if info.get("group") in ("step", "epoch", "contention", "data_parallel") \
            and "network" in info:
        sizes = [int(x) for x in info["network"].split("-")]
        b, out = max(1, info["batch"] // info.get("ranks", 1)), []
        for layer, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            out += [(b, n_out, n_in, False, False), (n_in, n_out, b, True, False)]
            if layer:
                out.append((b, n_in, n_out, False, True))
        return out
    return []


def differences(first, other, info):
    """How ``other``'s run of a benchmark differs from ``first``'s in what fastnn runs.

    Parameters
    ----------
    first, other : Run
    info : dict
        The benchmark's ``extra_info`` (its products and dtype).

    Returns
    -------
    list of str
        ``isa avx2→portable`` when the instruction-set paths differ;
        ``NN 10x30x784 small→blas`` per product that ``gemm`` routes
        differently (runs without a route table are not compared).
    """
    out = []
    isa_a, isa_b = first.machine.get("isa"), other.machine.get("isa")
    if isa_a and isa_b and isa_a != isa_b:
        out.append("isa %s→%s" % (isa_a, isa_b))
    routes_a, routes_b = first.machine.get("routes"), other.machine.get("routes")
    if routes_a and routes_b:
        for m, n, k, ta, tb in products(info):
            key = _machine.route_key(m, n, k, ta, tb, info.get("dtype", "float32"))
            if routes_a.get(key) != routes_b.get(key):
                out.append("%s %s→%s" % (key.rsplit(" ", 1)[0], routes_a.get(key, "?"),
                                         routes_b.get(key, "?")))
    return out


def _machines(names, runs):
    """The machine facts of every run, one column per run; ≠ marks a fact unlike A's."""
    facts = (("CPU", lambda m: m.get("cpu")),
             ("family/model/stepping", lambda m: m.get("cpu_signature")),
             ("ISA path", lambda m: m.get("isa")),
             ("ISA paths available", lambda m: ", ".join(m.get("available_isas") or []) or None),
             ("BLAS kernel", lambda m: " ".join(
                 str(b.get(k, "")) for b in (m.get("blas") or [])[:1]
                 for k in ("internal_api", "version", "architecture")) or None),
             ("OPENBLAS_CORETYPE", lambda m: m.get("openblas_coretype")),
             ("peak/core float32", lambda m: _fmt((m.get("core_peak_gflops") or {}).get(
                 "float32"))),
             ("GEMM routes differing from A", None))
    lines = ["| machine | " + " | ".join(names) + " |", "|---|" + "---|" * len(runs)]
    for title, get in facts:
        if get is None:
            if len(runs) < 2 or not runs[0].machine.get("routes"):
                continue
            cells = ["–"] + [_route_changes(runs[0], run) for run in runs[1:]]
        else:
            values = [get(run.machine) for run in runs]
            cells = [("%s ≠" if i and v != values[0] else "%s") % (v if v is not None else "–")
                     for i, v in enumerate(values)]
        lines.append("| %s | %s |" % (title, " | ".join(cells)))
    return lines


def _route_changes(first, other):
    routes_a, routes_b = first.machine.get("routes") or {}, other.machine.get("routes")
    if not routes_b:
        return "?"
    changed = [k for k in routes_a if k in routes_b and routes_a[k] != routes_b[k]]
    return "%d of %d" % (len(changed), len(routes_a))


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
    marked = False
    for name, run in zip(names, runs):
        load = run.machine.get("load_average") or [None, None]
        lines.append("- **%s** `%s`: %s, plan %s, fastnn %s, torch %s, load average %s" % (
            name, os.path.basename(run.path), run.label, run.machine.get("plan", "?"),
            run.machine.get("version", "?"), run.machine.get("torch") or "absent",
            " → ".join("?" if x is None else "%.1f" % x for x in load)))
        if run.ignored:
            lines.append("  (%d benchmarks without a fastnn key left out)" % run.ignored)
    lines += [""] + _machines(names, runs)
    lines += ["", ("Peak (GFLOP/s; threads × one core's multiply-add loop on the ISA path, "
                   "the %peak below) and the GEMM probe (best of fastnn's BLAS and NumPy's "
                   "matmul, square, side in brackets):"), ""]
    peaks = sorted({k for run in runs for k in run.machine.get("peak_gflops", {})})
    lines.append("| dtype/threads | " + " | ".join(names) + " |")
    lines.append("|---|" + "---:|" * len(runs))
    for k in peaks:
        cells = []
        for run in runs:
            p = run.machine.get("peak_gflops", {}).get(k)
            g = run.machine.get("gemm_gflops", {}).get(k)
            if p and "size" in p:       # files before the peak loop: the probe was the peak
                p, g = None, p
            cells.append("%s, GEMM %s" % (_fmt(p["gflops"]) if p else "–",
                                          "%s (%d)" % (_fmt(g["gflops"]), g["size"])
                                          if g else "–"))
        lines.append("| %s | %s |" % (k, " | ".join(cells)))
    for title, select, metric in SECTIONS:
        table = rows(runs, select, metric)
        if not table:
            continue
        training = metric == "samples_per_s"
        impls = ("numpy", "numpy_plain", "torch", "jax") if training else ("numpy", "torch")
        show_peak = metric in ("gflops", "samples_per_s")
        contention = title == CONTENTION
        if contention:
            impls = ("jax",)
        if title == DATA_PARALLEL:
            impls = ()
        baseline = BASELINES.get(title)
        head = ["benchmark"]
        for name in names:
            head += ["%s fastnn" % name] + ["%s ×%s" % (name, i.replace("numpy_plain", "plain"))
                                             for i in impls]
            if baseline:
                head.append("%s %s" % (name, baseline[0]))
            if show_peak:
                head.append("%s %%peak" % name)
            if title == DATA_PARALLEL:
                head += ["%s allreduce µs" % name, "%s MB/step" % name]
        head += ["%s/A" % name for name in names[1:]]
        marks = len(runs) > 1 and metric != "gbytes_per_s"
        if marks:
            head.append("runs differently from A")
        lines += ["", "### " + title, "", "| " + " | ".join(head) + " |",
                  "|---|" + "---:|" * (len(head) - 1)]
        for row, cells in table:
            out = [row.split("/", 1)[1]]
            for c, run in zip(cells, runs):
                mark = c["under_load"] and not contention
                marked = marked or mark
                out.append(_fmt(c["value"]) + (LOAD_MARK if mark else ""))
                out += [_ratio(c["speedup"].get(i)) for i in impls]
                if baseline:
                    # contention: fastnn on 1 thread side by side; older files: its own row
                    one = (c["info"].get("one_thread_samples_per_s")
                           or run.results.get(baseline[1](row) + "/fastnn", {}).get(
                               "samples_per_s"))
                    out.append(_ratio(c["value"] / one) if c["value"] and one else "–")
                if show_peak:
                    out.append("–" if c["fraction"] is None else "%.1f%%" % (100 * c["fraction"]))
                if title == DATA_PARALLEL:
                    nbytes = c["info"].get("bytes_per_step")
                    out += [_fmt(c["info"].get("allreduce_us")),
                            _fmt(nbytes / 1e6) if nbytes is not None else "–"]
            first = cells[0]["value"]
            for c in cells[1:]:
                out.append(_ratio(c["value"] / first) if first and c["value"] else "–")
            if marks:
                info = next((c["info"] for c in cells if c["info"]), {})
                out.append("; ".join(
                    "%s: %s" % (name, ", ".join(d)) for name, run in zip(names[1:], runs[1:])
                    for d in [differences(runs[0], run, info)] if d) or "–")
            lines.append("| " + " | ".join(out) + " |")
    if marked:
        lines += ["", load_legend(names, runs)]
    return "\n".join(lines)


def load_legend(names, runs):
    """The legend of :data:`LOAD_MARK`: what it means, with each run's core count.

    Parameters
    ----------
    names : list of str
    runs : list of Run

    Returns
    -------
    str
        e.g. ``! taken under load: the 1-minute load average before or
        after the timing was above the 2 cores`` (one run, or runs with one
        core count), or ``... above each machine's cores (A: 2, B: 8)``.
    """
    cores = [run.machine.get("cpu_count") or "?" for run in runs]
    if len(set(cores)) == 1:
        where = "the %s cores" % cores[0]
    else:
        where = "each machine's cores (%s)" % ", ".join(
            "%s: %s" % nc for nc in zip(names, cores))
    return ("%s taken under load: the 1-minute load average before or after the timing "
            "was above %s" % (LOAD_MARK, where))


def add_arguments(parser):
    """Add ``compare``'s arguments to an argparse parser."""
    parser.add_argument("files", nargs="+", metavar="FILE.json",
                        help="pytest-benchmark JSON files (fastnn bench --out, "
                             "or pytest benchmarks/ --benchmark-json)")
    parser.add_argument("--charts", metavar="DIR", default="fastnn-charts",
                        help="directory of the PNG charts, drawn when matplotlib is "
                             "installed (default: fastnn-charts)")
    parser.add_argument("--no-charts", action="store_true", help="draw no charts")
    parser.add_argument("--dtype", default="float32", choices=options.DTYPES,
                        help="dtype of the benchmarks charted (default float32)")
    parser.add_argument("--select", metavar="REGEX", type=_regex,
                        help="only the benchmarks whose key matches this regular expression, "
                             "e.g. 'float32/1t'")


def _regex(text):
    """``--select``'s type: ``text`` once it compiles as a regular expression."""
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(
            "expected a Python regular expression such as 'float32/1t', got %r (%s)"
            % (text, exc)) from None
    return text


def run(files, charts=None, dtype="float32", file=None, select=None):
    """Print the tables of ``files`` and draw the charts into ``charts``.

    Parameters
    ----------
    files : list of str
    charts : str, optional
        Directory for the PNG charts; none drawn when None, and not created
        when there is nothing to draw.
    dtype : str
        The charts show this dtype's benchmarks.
    file : file-like, optional
    select : str, optional
        Regular expression: only the benchmarks whose key it matches (search).

    Returns
    -------
    int
        0 on success; 2, after one line on standard error, when a file cannot
        be read or is not pytest-benchmark JSON.  Without matplotlib the
        charts are skipped with a note.
    """
    file = file or sys.stdout
    runs = []
    for path in files:
        try:
            runs.append(_results.load(path))
        except OSError as exc:
            print("fastnn compare: error: cannot read %r: %s (expected a pytest-benchmark "
                  "JSON file)" % (path, exc.strerror or exc), file=sys.stderr)
            return 2
        except ValueError as exc:
            print("fastnn compare: error: %s" % exc, file=sys.stderr)
            return 2
    if select:
        pattern = re.compile(select)
        for r in runs:
            r.results = {k: v for k, v in r.results.items() if pattern.search(k)}
    print(markdown(runs), file=file)
    if charts:
        from fastnn.bench import charts as _charts
        if not _charts.available():
            print("\n(no charts: matplotlib is not installed)", file=file)
        else:
            written = _charts.draw(runs, charts, dtype)
            print("\n" + ("charts: " + ", ".join(written) if written else
                          "(no charts: no %s benchmarks)" % dtype), file=file)
    return 0
