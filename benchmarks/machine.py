"""What every benchmark records about the machine it ran on, so its numbers can be read in context."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> dict:
    """CPU model, core count and Python version."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other jobs on the machine slow every measurement."""
    return [round(x, 2) for x in os.getloadavg()]
