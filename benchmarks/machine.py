"""What every benchmark records about the machine it ran on, so its numbers can be read in context."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path


def machine() -> dict:
    """CPU model, core count, Python version and whether the CPU runs bfloat16 natively (the same
    "AMD EPYC" name covers CPUs with and without AVX-512, and bf16 timings differ by 20x between them)."""
    from adekd.hardware import cpu_has_native_bf16

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "native_bf16": cpu_has_native_bf16(),
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other jobs on the machine slow every measurement."""
    return [round(x, 2) for x in os.getloadavg()]


def write_results(folder: Path, name: str, report: dict, render: Callable[[dict], str]) -> str:
    """Commit-ready results: ``folder/name.json`` (every number), then ``folder/name.md`` (``render``'s
    table), whose text is returned.

    The JSON is on disk before ``render`` runs: a table that fails to render loses no measurement of
    an hours-long run; fix the renderer and rebuild the markdown from the JSON.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown = render(report)
    (folder / f"{name}.md").write_text(markdown, encoding="utf-8")
    return markdown
