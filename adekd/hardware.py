"""What the CPU computes natively, for choosing and warning about precisions.

bfloat16 is fast on a CPU only where oneDNN has native kernels for it (AVX-512 on x86, bf16
instructions on Arm); elsewhere torch emulates it in software. Measured on a 2-core AVX2 CPU (no
AVX-512): the packaged SmolLM2 teacher generated 2.2x slower in bfloat16 than in float32, and
``--mixed-precision bf16`` trained MiniLM at 1.9 sentences/s against 42 in float32, while on an
AVX-512 CPU bfloat16 took 40-70% of float32's time.
"""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bfloat16 matrix products natively (oneDNN's own check)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:  # a torch built without oneDNN
        return False


def warn_if_emulated_bf16(what: str) -> None:
    """Log that ``what`` (a flag as the user gave it) will run emulated on this CPU, and what is faster."""
    if not cpu_has_native_bf16():
        logger.warning(
            "%s on a CPU without native bfloat16 (no AVX-512): torch emulates it, which runs slower "
            "than float32 here (2x for generation, 20x for training measured on an AVX2 CPU)",
            what,
        )
