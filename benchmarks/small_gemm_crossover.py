"""Own small-matrix GEMM vs OpenBLAS, side by side, one thread; and how well gemm routes.

Times ``gemm_small`` (fastnn's own kernel, csrc/small_gemm.h), ``gemm_packed``
(the packed kernel, csrc/packed_gemm.h, where the active instruction-set path
has it) and ``gemm_blas`` (SciPy's OpenBLAS through the same wrapper) on the
three products of a dense layer's training step, and optionally on a grid of
(m, n, k) around them, for float32 and float64.  Shapes and timing are
``fastnn._tune``'s, the ones ``python -m fastnn tune`` measures: each sample
runs the call many times inside one ``nogil`` block, the implementations are
sampled in turn, and the medians are reported, in µs per call.

    python benchmarks/small_gemm_crossover.py                # textbook shapes
    python benchmarks/small_gemm_crossover.py --grid         # plus the (m, n, k) grid
    python benchmarks/small_gemm_crossover.py --markdown     # plus the README tables
    FASTNN_ROUTES=default python benchmarks/...              # the untuned routes

Also reports, per row, where ``gemm`` (the routed call) sends the shape
(``_blas.gemm_route``: ``own`` for the small kernel, ``packed`` or ``blas``), and
for the whole run how often that route is within 5% of the fastest
implementation the path has (``*`` marks the shapes where it is not), and of
the faster of own and BLAS (on a path without its own SIMD small kernel, own
is the kernel's plain C fallback, which gemm never uses).
Not part of the test suite.
"""

import argparse
import json
import sys

import numpy as np

import fastnn
from fastnn._kernels import _blas
from fastnn._tune import candidates, grid_shapes, measure, textbook_shapes

#: How much slower than the fastest a route may be and still count as right.
TOLERANCE = 0.05


def measure_routes(shapes, dtypes, target_s, samples):
    """Rows of ``fastnn._tune.measure`` timing the small kernel, the packed one
    (where the path has it) and BLAS, with ``own`` (the small kernel's µs),
    ``best`` (the fastest the path has, µs) and ``routed`` (where gemm sends it)."""
    path_routes = candidates()
    timed = ["small"] + [r for r in ("packed", "blas") if r in path_routes]
    rows = measure(shapes, dtypes, timed, target_s, samples)
    for r in rows:
        route = _blas.gemm_route(r["m"], r["n"], r["k"], r["ta"], r["tb"],
                                 r["dtype"] == "float64")
        r["own"] = r["small"]
        r["best"] = min(r[x] for x in path_routes)
        r["routed_us"] = r[route]
        r["routed"] = "own" if route == "small" else route
    return rows


def print_rows(rows, out=sys.stdout):
    packed = any("packed" in r for r in rows)
    out.write("%-26s %-2s %5s %5s %5s %-7s %9s %s%9s %6s %6s %6s\n" % (
        "product", "op", "m", "n", "k", "dtype", "own µs", "packed µs " if packed else "",
        "blas µs", "ratio", "GF/s", "gemm"))
    for r in rows:
        flop = 2.0 * r["m"] * r["n"] * r["k"]
        out.write("%-26s %-2s %5d %5d %5d %-7s %9.2f %s%9.2f %6.2f %6.1f %6s%s\n" % (
            r["label"], r["op"], r["m"], r["n"], r["k"], r["dtype"], r["own"],
            "%9.2f " % r["packed"] if packed else "", r["blas"], r["blas"] / r["own"],
            flop / r["best"] / 1e3, r["routed"], "" if _right(r) else "  *"))


def _right(row, against=("best",)):
    """Whether gemm's route for this shape is within TOLERANCE of the fastest of
    ``against`` (row keys)."""
    return row["routed_us"] <= (1.0 + TOLERANCE) * min(row[a] for a in against)


def summary(rows):
    """The routing's score over ``rows``: counts within TOLERANCE, µs lost."""
    best = sum(_right(r) for r in rows)
    own_blas = sum(_right(r, ("own", "blas")) for r in rows)
    lost = sum(r["routed_us"] - r["best"] for r in rows)
    return ("routed gemm within %d%% of the fastest implementation of the %s path: "
            "%d of %d shapes (%.1f%%); of the faster of own and BLAS: %d of %d (%.1f%%); "
            "µs lost per call against the fastest, summed: %.2f" % (
                TOLERANCE * 100, fastnn.get_isa(), best, len(rows), 100.0 * best / len(rows),
                own_blas, len(rows), 100.0 * own_blas / len(rows), lost))


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
    routes = fastnn.config()["routes"]
    print("fastnn %s, %s path (own kernel ISA %s), routes %s, 1 thread, median of %d "
          "samples of ~%.1f ms" % (
              fastnn.__version__, fastnn.get_isa(), _blas.small_gemm_isa(),
              "tuned (%s)" % routes["file"] if routes["tuned"] else routes["note"],
              args.samples, args.target_ms))
    rows = measure_routes(shapes, dtypes, args.target_ms / 1e3, args.samples)
    print_rows(rows)
    if args.markdown:
        print_markdown(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=0)
    print("\n" + summary(rows))


if __name__ == "__main__":
    main()
