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

Nothing here is cached: a quota can change while the process runs.
"""

import math
import os

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
