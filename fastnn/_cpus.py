"""How many CPUs this process may use: its affinity mask and its cgroup's CPU quota.

``os.cpu_count()`` counts the machine's CPUs; a process may be allowed fewer,
by its affinity mask (``taskset``, ``sched_setaffinity``, a batch scheduler's
CPU set) or by a CPU quota on its control group (a container started with
``--cpus=1.5``, a Kubernetes CPU limit), which lets it run on every CPU but
for only so much time per period: threads beyond the quota take turns, and
the waits between fastnn's threads grow by the turns.  The OpenMP runtime
sizes its default team by the affinity mask only.  :func:`available_cpus`
takes both into account, the way loky (joblib's process pool) does;
``fastnn._config`` uses it for fastnn's default thread count.

A CPU this process may use can still be busy with another process (a
browser, a CI job, the other fits of a grid search).  A thread of fastnn's
team that loses its CPU for a time slice stalls every other thread of the
team at the next barrier or hand-off, so on a busy machine two threads train
slower than one.  :class:`OtherLoad` measures, between two calls, how many
CPUs' worth of time other processes took on this process's CPUs (Linux's
``/proc/stat`` busy time of the CPUs in the affinity mask, less this
process's own CPU time); :func:`threads_beside` turns that into a thread
count.  The training loop re-decides between its runs of batches
(fastnn/_interrupt.py); results are the same bits for any thread count.
Where ``/proc/stat`` is missing (macOS, Windows) nothing is measured and the
thread count stays fixed.

Nothing here is cached: a quota can change while the process runs.
"""

import math
import os
import time

#: Where cgroup file systems are mounted.
CGROUP_ROOT = "/sys/fs/cgroup"


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cgroup_v2_quota(root, relative):
    """The smallest quota (CPUs) of the cgroup v2 group ``relative`` and its
    ancestors, or None when none sets one."""
    quota = None
    parts = [p for p in relative.strip("/").split("/") if p]
    for depth in range(len(parts), -1, -1):
        text = _read(os.path.join(root, *parts[:depth], "cpu.max"))
        if not text:
            continue
        fields = text.split()
        if len(fields) == 2 and fields[0] != "max":
            try:
                limit = int(fields[0]) / int(fields[1])
            except (ValueError, ZeroDivisionError):
                continue
            if limit > 0:
                quota = limit if quota is None else min(quota, limit)
    return quota


def _cgroup_v1_quota(root, relative):
    """The smallest CPU quota (CPUs) of the cgroup v1 ``cpu`` controller, for
    the group ``relative`` and the controller's root (a container's own
    group), or None."""
    quota = None
    for base in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
        for group in {relative.strip("/"), ""}:
            limit = _read(os.path.join(root, base, group, "cpu.cfs_quota_us"))
            period = _read(os.path.join(root, base, group, "cpu.cfs_period_us"))
            try:
                limit, period = int(limit), int(period)
            except (TypeError, ValueError):
                continue
            if limit > 0 and period > 0:
                quota = limit / period if quota is None else min(quota, limit / period)
    return quota


def cgroup_cpu_quota(root=CGROUP_ROOT, proc_cgroup="/proc/self/cgroup"):
    """The CPU quota of this process's control group, in CPUs (may be
    fractional), or None when there is none (or no cgroup file system).

    Parameters
    ----------
    root : str
        Where the cgroup file systems are mounted (tests pass a fake tree).
    proc_cgroup : str
        The file naming this process's groups.
    """
    membership = _read(proc_cgroup)
    if membership is None:
        return None
    v1_group = v2_group = None
    for line in membership.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, relative = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            v2_group = relative
        elif "cpu" in controllers.split(","):
            v1_group = relative
    quotas = []
    if v2_group is not None:           # a hybrid system may have both
        quotas.append(_cgroup_v2_quota(root, v2_group))
    if v1_group is not None:
        quotas.append(_cgroup_v1_quota(root, v1_group))
    quotas = [q for q in quotas if q is not None]
    return min(quotas) if quotas else None


def available_cpus(root=CGROUP_ROOT, proc_cgroup="/proc/self/cgroup"):
    """The number of CPUs this process may use: the CPUs of its affinity mask,
    capped by its cgroup CPU quota rounded up, at least 1.

    Returns
    -------
    int
    """
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):            # not Linux
        count = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root, proc_cgroup)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


#: Per-CPU time since boot, in clock ticks (Linux).
PROC_STAT = "/proc/stat"

#: Other processes' load (CPUs) ignored when choosing threads: background
#: daemons and the 10 ms granularity of /proc/stat's ticks.
LOAD_SLACK = 0.3


def _affinity():
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def busy_seconds(cpus, path=PROC_STAT):
    """Seconds the CPUs numbered in ``cpus`` spent busy since boot (user,
    nice, system, irq, softirq and steal time: all but idle and iowait), or
    None when ``path`` cannot be read or lacks one of them.

    Parameters
    ----------
    cpus : iterable of int
    path : str
        The kernel's statistics file (tests pass a fake one).
    """
    text = _read(path)
    if text is None:
        return None
    wanted = {"cpu%d" % c for c in cpus}
    ticks = 0
    found = 0
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] in wanted:
            try:
                user, nice, system, _idle, _iowait, irq, softirq, steal = (
                    int(v) for v in (fields[1:9] + ["0"] * 8)[:8])
            except ValueError:
                return None
            ticks += user + nice + system + irq + softirq + steal
            found += 1
    if found != len(wanted):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """How many CPUs' worth of time other processes take on this process's CPUs.

    Each :meth:`measure` returns the average over the time since the previous
    one: the busy time of the CPUs in this process's affinity mask
    (:func:`busy_seconds`) less this process's own CPU time, divided by the
    wall time.  It is 0 on a quiet machine and about 1 with one CPU-bound
    process beside this one, whatever this process's threads do.

    Parameters
    ----------
    path : str
        The kernel's statistics file (tests pass a fake one).
    """

    def __init__(self, path=PROC_STAT):
        self.path = path
        self._start = self._snapshot()

    def _snapshot(self):
        cpus = _affinity()
        busy = None if cpus is None else busy_seconds(cpus, self.path)
        return cpus, busy, time.process_time(), time.monotonic()

    def restart(self):
        """Start a new measuring window now."""
        self._start = self._snapshot()

    def elapsed(self):
        """Seconds since the window started."""
        return time.monotonic() - self._start[3]

    def measure(self):
        """The other processes' load since the window started, in CPUs (None
        where it cannot be measured: no ``/proc/stat``, a changed affinity
        mask, no time passed), and start a new window.

        Returns
        -------
        float or None
        """
        (cpus0, busy0, own0, wall0), now = self._start, self._snapshot()
        self._start = now
        cpus1, busy1, own1, wall1 = now
        if busy0 is None or busy1 is None or cpus0 != cpus1 or wall1 <= wall0:
            return None
        others = (busy1 - busy0) - (own1 - own0)
        return max(0.0, others / (wall1 - wall0))


def threads_beside(others, cpus, wanted):
    """The threads to use when other processes keep ``others`` CPUs busy.

    One per CPU they leave free (less :data:`LOAD_SLACK`, rounded in favour
    of fewer), at most ``wanted``, at least 1.

    Parameters
    ----------
    others : float
        Other processes' load in CPUs (:meth:`OtherLoad.measure`).
    cpus : int
        The CPUs this process may use (:func:`available_cpus`).
    wanted : int
        The thread count without other load.

    Returns
    -------
    int
    """
    free = cpus - math.ceil(others - LOAD_SLACK)
    return max(1, min(wanted, free))
