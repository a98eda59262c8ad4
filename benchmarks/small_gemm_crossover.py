"""Own small-matrix GEMM vs OpenBLAS, side by side, one thread.

Times ``gemm_small`` (fastnn's own kernel, csrc/small_gemm.h) and ``gemm_blas``
(SciPy's OpenBLAS through the same wrapper) on the three products of a dense
layer's training step, and optionally on a grid of (m, n, k) around them, for
float32 and float64.  Each timing sample runs the call ``reps`` times inside one
``nogil`` block (so Python's call overhead is paid once per sample, not per
call); the two implementations are sampled alternately, and the medians of the
samples are reported, in µs per call.

    python benchmarks/small_gemm_crossover.py                # textbook shapes
    python benchmarks/small_gemm_crossover.py --grid         # plus the (m, n, k) grid
    python benchmarks/small_gemm_crossover.py --markdown     # plus the README tables

Also reports, per row, where ``gemm`` (the routed call) sends the shape
(``_blas.gemm_route``): ``own`` (the small kernel), ``blas``, or ``packed`` (the
own packed kernel for large float32 products, timed by neither column here).
Not part of the test suite.
"""

import argparse
import itertools
import json
import statistics
import sys
import time

import numpy as np

import fastnn
from fastnn._kernels import _blas

LAYERS = [(784, 30), (30, 10), (784, 16), (16, 16), (16, 10), (784, 128), (128, 64),
          (64, 10)]
BATCHES = [1, 10, 32, 64]
GRID = [1, 4, 16, 64, 256, 784]


def textbook_shapes():
    """(label, m, n, k, trans_a, trans_b) of forward, dW and dX for every layer/batch."""
    for (n_in, n_out), batch in itertools.product(LAYERS, BATCHES):
        layer = "%d→%d n=%d" % (n_in, n_out, batch)
        yield ("Z=X·W   " + layer, batch, n_out, n_in, False, False)
        yield ("dW=Xᵀ·dZ " + layer, n_in, n_out, batch, True, False)
        yield ("dX=dZ·Wᵀ " + layer, batch, n_in, n_out, False, True)


def grid_shapes():
    for (ta, tb), m, n, k in itertools.product([(False, False), (True, False), (False, True),
                                                (True, True)], GRID, GRID, GRID):
        if m * n * k > 784 * 256 * 64:
            continue
        yield ("grid", m, n, k, ta, tb)


def operands(rng, dtype, m, n, k, ta, tb):
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    C = np.zeros((m, n), dtype)
    return A, B, C


def time_pair(fns, target_s, samples):
    """Median µs per call of each fn(reps), sampled alternately."""
    for fn in fns:                       # warm up, and size reps to ~target_s per sample
        fn(1)
    t0 = time.perf_counter()
    fns[0](10)
    per_call = max((time.perf_counter() - t0) / 10, 1e-8)
    reps = max(1, int(target_s / per_call))
    times = [[] for _ in fns]
    for _ in range(samples):
        for fn, out in zip(fns, times):
            t0 = time.perf_counter()
            fn(reps)
            out.append((time.perf_counter() - t0) / reps)
    return [statistics.median(t) * 1e6 for t in times]


def measure(shapes, dtypes, target_s, samples, check=True):
    rng = np.random.default_rng(0)
    rows = []
    for (label, m, n, k, ta, tb), dtype in itertools.product(shapes, dtypes):
        A, B, C = operands(rng, dtype, m, n, k, ta, tb)
        if check:
            want = (A.T if ta else A) @ (B.T if tb else B)
            _blas.gemm_small(ta, tb, 1.0, A, B, 0.0, C)
            err = np.max(np.abs(C - want)) / max(np.max(np.abs(want)), 1e-300)
            assert err <= (1e-12 if dtype == np.float64 else 1e-5), (label, m, n, k, err)
        own, blas = time_pair(
            [lambda r: _blas.gemm_small(ta, tb, 1.0, A, B, 0.0, C, repeats=r),
             lambda r: _blas.gemm_blas(ta, tb, 1.0, A, B, 0.0, C, repeats=r)],
            target_s, samples)
        route = _blas.gemm_route(m, n, k, ta, tb, dtype == np.float64)
        routed = "own" if route == "small" else route
        rows.append(dict(label=label, m=m, n=n, k=k, ta=ta, tb=tb,
                         dtype=np.dtype(dtype).name, own=own, blas=blas, routed=routed))
    return rows


def case(row):
    return {(False, False): "NN", (True, False): "TN", (False, True): "NT",
            (True, True): "TT"}[(row["ta"], row["tb"])]


def print_rows(rows, out=sys.stdout):
    out.write("%-26s %-2s %5s %5s %5s %-7s %9s %9s %6s %6s %5s\n" % (
        "product", "op", "m", "n", "k", "dtype", "own µs", "blas µs", "ratio",
        "GF/s", "gemm"))
    for r in rows:
        flop = 2.0 * r["m"] * r["n"] * r["k"]
        best = min(r["own"], r["blas"])
        out.write("%-26s %-2s %5d %5d %5d %-7s %9.2f %9.2f %6.2f %6.1f %5s%s\n" % (
            r["label"], case(r), r["m"], r["n"], r["k"], r["dtype"], r["own"], r["blas"],
            r["blas"] / r["own"], flop / best / 1e3, r["routed"],
            "  *" if _slower(r) else ""))


def _slower(row):
    """Whether gemm sends this shape to the slower of the two timed kernels."""
    if row["routed"] == "packed":
        return False
    return (row["own"] < row["blas"]) != (row["routed"] == "own")


def print_markdown(rows, out=sys.stdout):
    """README tables, one per dtype: µs per call, own / OpenBLAS, the one gemm uses in
    bold (neither, marked †, where gemm uses the packed kernel)."""
    cells = {}
    for r in rows:
        if r["label"] == "grid":
            continue
        product, layer = r["label"].split(None, 1)
        layer, batch = layer.rsplit(" n=", 1)
        own, blas = "%.2f" % r["own"], "%.2f" % r["blas"]
        if r["routed"] == "own":
            own = "**%s**" % own
        elif r["routed"] == "blas":
            blas = "**%s**" % blas
        else:
            blas += " †"
        cells.setdefault(r["dtype"], {}).setdefault((layer, product), {})[int(batch)] = \
            "%s / %s" % (own, blas)
    for dtype, table in cells.items():
        batches = sorted({b for v in table.values() for b in v})
        out.write("\n%s, µs per call, own / OpenBLAS (bold: the one `gemm` uses; †: "
                  "neither, the packed kernel)\n\n" % dtype)
        out.write("| layer | product | %s |\n" % " | ".join("n=%d" % b for b in batches))
        out.write("|---|---|%s\n" % ("---:|" * len(batches)))
        for (layer, product), by_batch in table.items():
            out.write("| %s | %s | %s |\n" % (layer, product, " | ".join(
                by_batch.get(b, "") for b in batches)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", action="store_true", help="also time the (m, n, k) grid")
    ap.add_argument("--grid-only", action="store_true", help="only the grid")
    ap.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    ap.add_argument("--samples", type=int, default=21, help="samples per implementation")
    ap.add_argument("--target-ms", type=float, default=2.0, help="length of one sample")
    ap.add_argument("--markdown", action="store_true", help="also print the README tables")
    ap.add_argument("--json", metavar="PATH", help="also write the rows to PATH as JSON")
    args = ap.parse_args(argv)

    fastnn.set_num_threads(1)
    dtypes = {"float32": [np.float32], "float64": [np.float64],
              "both": [np.float32, np.float64]}[args.dtype]
    shapes = [] if args.grid_only else list(textbook_shapes())
    if args.grid or args.grid_only:
        shapes += list(grid_shapes())
    print("fastnn %s, own kernel ISA %s, 1 thread, median of %d samples of ~%.1f ms" % (
        fastnn.__version__, _blas.small_gemm_isa(), args.samples, args.target_ms))
    rows = measure(shapes, dtypes, args.target_ms / 1e3, args.samples)
    print_rows(rows)
    if args.markdown:
        print_markdown(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=0)
    wrong = [r for r in rows if _slower(r)]
    lost = sum(abs(r["own"] - r["blas"]) for r in wrong)
    print("\n%d of %d shapes routed to the slower implementation (* above); "
          "µs lost per call, summed: %.2f" % (len(wrong), len(rows), lost))


if __name__ == "__main__":
    main()
