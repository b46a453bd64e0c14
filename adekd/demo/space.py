"""Assemble a folder that can be uploaded to a Hugging Face Space as it is.

A Gradio Space installs ``requirements.txt`` before the repository's files are copied in, so the
Space cannot ``pip install`` adekd from its own files, and adekd is not on PyPI. The Space therefore
carries a copy of the ``adekd`` package next to ``app.py`` (the folder of the script that Python
runs comes first on ``sys.path``), and ``requirements.txt`` lists adekd's dependencies.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import adekd

SPACE_SOURCE = Path(__file__).resolve().parents[2] / "spaces" / "ade-demo"
"""The Space's own files in a source checkout of adekd."""

SPACE_FILES = ("app.py", "README.md", "requirements.txt")


def export_space(output_dir: str | os.PathLike) -> Path:
    """Write the Space files and a copy of the installed adekd package to ``output_dir`` (new or empty).

    Upload the result with ``hf upload NAMESPACE/NAME DIR . --repo-type space``.
    """
    if not all((SPACE_SOURCE / name).is_file() for name in SPACE_FILES):
        raise FileNotFoundError(
            f"the Space files ({', '.join(SPACE_FILES)}) are not in {SPACE_SOURCE}: "
            "export the Space from a source checkout of adekd"
        )
    output = Path(output_dir)
    if output.exists() and any(output.iterdir()):
        raise FileExistsError(f"{output} is not empty; choose a new folder")
    output.mkdir(parents=True, exist_ok=True)
    for name in SPACE_FILES:
        shutil.copy2(SPACE_SOURCE / name, output / name)
    package = Path(adekd.__file__).resolve().parent
    shutil.copytree(package, output / "adekd", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return output
