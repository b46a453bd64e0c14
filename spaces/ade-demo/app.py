"""The adekd Space: extract adverse drug events drug by drug, and score a model on a gold file.

The app itself is ``adekd.demo.build_demo`` (the same one ``adekd demo`` serves). Run it locally with

    ADEKD_MODEL=path/to/student python spaces/ade-demo/app.py

which serves on http://127.0.0.1:7860 (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` change
that; a Space sets them itself). Without ``ADEKD_MODEL`` it serves the student the Space carries
(``model/``, from ``adekd demo --export-space DIR --model FOLDER``), else the first model its card
lists under ``models:``.
"""

import logging
from pathlib import Path

from adekd.demo import launch_demo
from adekd.demo.space import space_model

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    launch_demo(space_model(Path(__file__).resolve().parent))
