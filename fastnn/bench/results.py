"""Reading pytest-benchmark JSON files of the fastnn suite.

A file comes from ``python -m fastnn bench --out FILE`` or from
``pytest benchmarks/ --benchmark-json=FILE``.  Benchmarks are identified by
the stable key in their ``extra_info`` (see :func:`fastnn.bench.cases.key`);
benchmarks without one (other suites' results) are counted and left out.
A result is marked as taken under load when the 1-minute load average,
recorded before and after its timing, exceeded the machine's core count
(:func:`under_load`).
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
        time per call in seconds, and ``under_load`` (see :func:`under_load`).
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


def under_load(load_average, cores):
    """Whether a result was taken while other work competed for the CPUs.

    Parameters
    ----------
    load_average : sequence of float or None, or None
        The 1-minute load average before and after the timing (None where
        not recorded).
    cores : int or None
        The machine's core count.

    Returns
    -------
    bool
        True when a recorded load average is above ``cores``: more processes
        were runnable than there were cores, so some waited for a CPU.  False
        when either is unknown.
    """
    if not cores or not load_average:
        return False
    return any(x is not None and x > cores for x in load_average)


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
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError("%s is not JSON: %s" % (path, exc)) from None
    if (not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list)
            or not all(isinstance(b, dict) for b in data["benchmarks"])):
        raise ValueError("%s is not a pytest-benchmark JSON file (no 'benchmarks')" % path)
    info = (data.get("machine_info") or {}).get("fastnn") or {}
    run = Run(os.fspath(path), info)
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info") or {}
        if "key" not in extra or not bench.get("stats"):
            run.ignored += 1
            continue
        run.results[extra["key"]] = {
            **extra, "median_s": bench["stats"]["median"],
            "under_load": under_load(extra.get("load_average"), info.get("cpu_count"))}
    return run
