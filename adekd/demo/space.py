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
SPACE_MODEL_DIR = "model"
"""Where a Space carries its own student (``export_space(model=FOLDER)``), beside ``app.py``."""


def space_model(space_dir: str | os.PathLike) -> str | None:
    """The model a Space serves: ``$ADEKD_MODEL`` (a Space variable), else the student it carries
    (``model/``), else the first model its card lists (``models:``, which the Hub links to)."""
    from huggingface_hub import SpaceCard

    from adekd.demo.app import MODEL_ENV

    space = Path(space_dir)
    if os.environ.get(MODEL_ENV):
        return os.environ[MODEL_ENV]
    if (space / SPACE_MODEL_DIR / "config.json").is_file():
        return os.fspath(space / SPACE_MODEL_DIR)
    models = SpaceCard.load(space / "README.md").data.models or []
    return models[0] if models else None


def export_space(output_dir: str | os.PathLike, model: str | os.PathLike | None = None) -> Path:
    """Write the Space files and a copy of the installed adekd package to ``output_dir`` (new or empty).

    ``model``, the student the Space serves: a student folder is copied in (``model/``, as ``adekd
    publish`` lays it out), a Hub id goes into the card's ``models:``; without it the Space serves
    the student the distillation published. Upload the result with
    ``hf upload NAMESPACE/NAME DIR . --repo-type space``.
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
    if model is not None:
        _serve(output, model)
    return output


def _serve(space: Path, model: str | os.PathLike) -> None:
    """Make the exported Space serve ``model`` (see :func:`space_model`)."""
    from huggingface_hub import SpaceCard

    from adekd.hub import publish_model

    card = SpaceCard.load(space / "README.md")
    if Path(model).is_dir():
        publish_model(model, space / SPACE_MODEL_DIR)
        card.data.models = None  # the student travels with the Space; no Hub model to link
    else:
        card.data.models = [os.fspath(model)]
    card.save(space / "README.md")
