"""Whose CPU a measurement ran on: the machine's, ours, and everyone else's (other jobs on the
same 2 cores make a figure noisy; this says by how much, per run)."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_TICKS = os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICKS


def _process_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name may hold spaces: fields count from after its closing parenthesis.
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuShare:
    """CPU used during one run, in cores (2.0 = both cores busy the whole time)."""

    machine: float
    ours: float

    @property
    def others(self) -> float:
        return max(0.0, self.machine - self.ours)


def measure(run: Callable[[], T], our_pids: Callable[[], Iterable[int]]) -> tuple[T, CpuShare]:
    """Run ``run`` and share out the CPU used meanwhile: ours is the processes ``our_pids`` names
    (servers, database backends) plus our waited-for children (the load client)."""
    pids_before = set(our_pids())
    ours0 = {pid: _process_seconds(pid) for pid in pids_before}
    machine0, children0 = _machine_busy_seconds(), _children_seconds()
    started = time.perf_counter()
    result = run()
    wall = time.perf_counter() - started
    machine1, children1 = _machine_busy_seconds(), _children_seconds()
    pids_after = set(our_pids())
    ours = sum(_process_seconds(pid) - ours0.get(pid, 0.0) for pid in pids_before | pids_after)
    ours += children1 - children0
    return result, CpuShare((machine1 - machine0) / wall, ours / wall)
