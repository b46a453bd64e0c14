"""The adekd Space: a Gradio app that extracts ADEs drug by drug and scores a model on a gold file.

Needs the ``space`` extra (``pip install 'adekd[space]'``, i.e. gradio). ``spaces/ade-demo/app.py``
and ``adekd demo`` both serve :func:`build_demo`; :func:`export_space` writes a deployable Space.
"""

from adekd.demo.app import (
    DEFAULT_MODEL,
    MODEL_ENV,
    MODEL_REVISION_ENV,
    DemoConfig,
    DemoInputError,
    build_demo,
    check_model_name,
    launch_demo,
    resolve_model,
)
from adekd.demo.space import export_space

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_ENV",
    "MODEL_REVISION_ENV",
    "DemoConfig",
    "DemoInputError",
    "build_demo",
    "check_model_name",
    "export_space",
    "launch_demo",
    "resolve_model",
]
