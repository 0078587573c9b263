"""Peak memory of a benchmark process, from /proc/self/status (Linux).

Not getrusage's ru_maxrss: that one inherits the parent's peak across fork and exec, so a child
started by a parent that once held more (the dense baseline's gigabytes) would report the
parent's peak instead of its own.
"""

from __future__ import annotations

from pathlib import Path


def _status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {key}: these benchmarks measure memory on Linux only")


def reset_peak() -> int:
    """Set the peak resident set size to the current one; returns the current RSS in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_bytes("VmRSS")


def peak_rss() -> int:
    """Peak resident set size (bytes) since the start or the last ``reset_peak``."""
    return _status_bytes("VmHWM")
