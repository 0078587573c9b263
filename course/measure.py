"""How long a call takes and how much memory it needs at its peak, on the CPU or a GPU.

Used wherever a notebook reports seconds and peak memory (the automatic-mask comparison, the
tracking sweep), so that the numbers mean the same thing everywhere.
"""

from __future__ import annotations

import threading
import time

import torch


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
    """
    device = torch.device(device)
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
