"""How long a call takes and how much memory it needs at its peak, on the CPU or a GPU.

Used wherever a notebook reports seconds and peak memory (the automatic-mask comparison, the
tracking sweep), so that the numbers mean the same thing everywhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time

import torch


def _libc():
    """The C library when it has ``malloc_trim`` (glibc: Colab, most Linux); None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def release_freed_memory(device="cpu") -> None:
    """Collect unreachable objects (gc) and give freed memory back: PyTorch's cached CUDA blocks,
    and on glibc the C heap's free pages (``malloc_trim``). Otherwise memory freed by earlier work
    stays in the process's resident memory, and a later call that reuses it shows a smaller peak
    than the same call alone."""
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
    elif _LIBC is not None:
        _LIBC.malloc_trim(0)


class _PeakSampler:
    """Samples this process's resident memory (psutil) in a thread until ``stop``; ``peak`` is the
    largest sample, in bytes."""

    def __init__(self, interval: float = 0.002):
        import psutil

        self.process, self.interval = psutil.Process(), interval
        self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.done.wait(self.interval)

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        return self.peak


def measure(function, device="cpu"):
    """Run ``function()``; returns (its result, seconds, peak memory in bytes above the start).

    CUDA: ``torch.cuda.max_memory_allocated`` (reset first) minus what was allocated before.
    CPU: this process's resident memory, sampled every 2 ms (psutil), minus its size before.
    Freed memory is given back first (``release_freed_memory``), so that the peak does not depend
    on what ran before.
    """
    device = torch.device(device)
    release_freed_memory(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        start = time.perf_counter()
        result = function()
        torch.cuda.synchronize(device)
        return result, time.perf_counter() - start, torch.cuda.max_memory_allocated(device) - base
    sampler = _PeakSampler()
    base = sampler.peak
    start = time.perf_counter()
    try:
        result = function()
    finally:
        seconds = time.perf_counter() - start
        peak = sampler.stop()
    return result, seconds, peak - base
