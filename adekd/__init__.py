"""adekd."""

from adekd.metrics import load_metric
