"""PNG charts of ``fastnn compare`` (needs matplotlib).

Per table section (:data:`fastnn.bench.compare.SECTIONS`), for one dtype:

``throughput-<section>.png``
    fastnn's figure for every benchmark, one bar per run (CPU, threads, build);
``speedup-<section>.png``
    fastnn's speedup over the NumPy reference and over PyTorch, one bar per run,
    on a log scale with 1× marked.
"""

import os
import re

from fastnn.bench.compare import SECTIONS, rows


def available():
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _slug(title):
    return re.sub(r"[^a-z0-9]+", "-", title.split("(")[0].lower()).strip("-")


def _label(row, dtype):
    group, rest = row.split("/", 1)
    return rest.replace("/%s/" % dtype, " · ") if group == "kernel" else "%s %s" % (
        group, rest.replace("/%s/" % dtype, " · "))


def _bars(ax, labels, series, names, log):
    height = 0.8 / max(len(series), 1)
    for i, (values, name) in enumerate(zip(series, names)):
        ys = [j + i * height for j in range(len(labels))]
        ax.barh(ys, [v if v else 0 for v in values], height=height, label=name)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(labels))])
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_ylim(len(labels) - 0.1, -0.3)   # first row on top
    if log:
        ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3)


def draw(runs, directory, dtype="float32"):
    """Draw the charts of ``runs`` into ``directory``.

    Parameters
    ----------
    runs : list of Run
    directory : str
        Created if missing, when there is a chart to draw.
    dtype : str
        Only this dtype's benchmarks are drawn.

    Returns
    -------
    list of str
        Paths of the PNG files written.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["%s: %s" % (chr(ord("A") + i), os.path.basename(r.path)) for i, r in enumerate(runs)]
    written = []
    for title, select, metric in SECTIONS:
        table = [(row, cells) for row, cells in rows(runs, select, metric)
                 if "/%s/" % dtype in row + "/"]
        if not table:
            continue
        os.makedirs(directory, exist_ok=True)
        labels = [_label(row, dtype) for row, _ in table]
        size = (9, 1.5 + 0.22 * len(labels) * max(1, len(runs) / 2))
        fig, ax = plt.subplots(figsize=size)
        _bars(ax, labels, [[c[i]["value"] for _, c in table] for i in range(len(runs))],
              names, log=True)
        ax.set_xlabel("fastnn, %s, %s (log scale)" % (title.split("(")[1].rstrip(")"), dtype))
        ax.set_title("fastnn throughput: %s" % title.split(" (")[0])
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        path = os.path.join(directory, "throughput-%s.png" % _slug(title))
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

        fig, axes = plt.subplots(1, 2, figsize=(13, size[1]), sharey=True)
        for ax, impl in zip(axes, ("numpy", "torch")):
            _bars(ax, labels, [[c[i]["speedup"].get(impl) for _, c in table]
                               for i in range(len(runs))], names, log=True)
            ax.axvline(1, color="black", linewidth=0.8)
            ax.set_xlabel("fastnn speedup over %s (×, log scale)" % (
                "the NumPy reference" if impl == "numpy" else "PyTorch eager"))
        axes[0].set_title("%s, %s" % (title.split(" (")[0], dtype))
        axes[1].legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        path = os.path.join(directory, "speedup-%s.png" % _slug(title))
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
