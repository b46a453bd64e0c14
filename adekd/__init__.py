"""adekd."""
