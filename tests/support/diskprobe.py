"""The peak bytes a job holds on disk, sampled while it runs (the backup tests' "two parts
on disk at most" and the backup benchmark's peak temporary disk)."""

import os
import threading
import time

SAMPLE_INTERVAL = 0.005


class DiskProbe:
    """Samples the bytes of the files below ``directory`` whose names end with ``suffix``
    (every file by default) until the ``with`` block ends; ``peak`` is the most seen."""

    def __init__(self, directory, suffix=""):
        self.directory = directory
        self.suffix = suffix
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._held())
            time.sleep(SAMPLE_INTERVAL)

    def _held(self):
        total = 0
        for directory, _, files in os.walk(self.directory):
            for name in files:
                if name.endswith(self.suffix):
                    try:
                        total += os.lstat(os.path.join(directory, name)).st_size
                    except FileNotFoundError:
                        pass  # a part uploaded and removed between listing and lstat
        return total
