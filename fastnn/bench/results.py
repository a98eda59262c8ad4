"""Reading pytest-benchmark JSON files of the fastnn suite.

A file comes from ``python -m fastnn bench --out FILE`` or from
``pytest benchmarks/ --benchmark-json=FILE``.  Benchmarks are identified by
the stable key in their ``extra_info`` (see :func:`fastnn.bench.cases.key`);
benchmarks without one (other suites' results) are counted and left out.
"""

import json
import os
from dataclasses import dataclass, field

from fastnn.bench import machine


@dataclass
class Run:
    """One result file.

    Attributes
    ----------
    path : str
    machine : dict
        ``machine_info["fastnn"]`` (empty when the file has none).
    results : dict
        Key → ``extra_info`` of the benchmark, plus ``median_s``, its median
        time per call in seconds.
    ignored : int
        Benchmarks without a fastnn key.
    """

    path: str
    machine: dict
    results: dict = field(default_factory=dict)
    ignored: int = 0

    @property
    def label(self):
        """The machine and build, one line (see :func:`fastnn.bench.machine.label`)."""
        if not self.machine:
            return "unknown machine"
        return machine.label(self.machine)


def load(path):
    """Read one pytest-benchmark JSON file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Run

    Raises
    ------
    ValueError
        When the file is not pytest-benchmark JSON.
    """
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError("%s is not JSON: %s" % (path, exc)) from None
    if not isinstance(data, dict) or "benchmarks" not in data:
        raise ValueError("%s is not a pytest-benchmark JSON file (no 'benchmarks')" % path)
    info = data.get("machine_info", {}).get("fastnn", {})
    run = Run(os.fspath(path), info)
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info") or {}
        if "key" not in extra or not bench.get("stats"):
            run.ignored += 1
            continue
        run.results[extra["key"]] = {**extra, "median_s": bench["stats"]["median"]}
    return run
