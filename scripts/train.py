"""Train an adekd student; the entry point for ``accelerate launch``.

Same flags as ``adekd train`` (one shared parser, :mod:`adekd.training.arguments`)::

    accelerate launch scripts/train.py --train train.jsonl --output student/
    accelerate launch --multi_gpu --num_processes 2 scripts/train.py --train train.jsonl --output student/

On a machine without GPUs the second line runs two CPU processes joined with gloo.
"""

import sys

from adekd.training.arguments import main

if __name__ == "__main__":
    sys.exit(main())
