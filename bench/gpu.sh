#!/usr/bin/env bash
# One prepared check of ganlab's GPU path on a machine with a CUDA device (docs/gpu.md): the device and what
# train.precision=auto picks there, every method in fp32 and bf16 with the tricks on, a step under CUDA's sync
# debug mode, streaming against in-memory batches and the set's memory at start, resume on the GPU and on the CPU,
# samples, FID on the GPU against the CPU, exports, torchrun, the cuda-marked tests and bench/vs_script.py.
# Writes OUT/summary.json and OUT/summary.txt (default OUT: ./gpu-check). Without CUDA it says so and exits 0.
#
#   bash bench/gpu.sh [--out DIR] [--parts device,train,...] [--steps 3] [--script PATH/TO/dcgan/main.py]
#   bash bench/gpu.sh --help
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python}" "$here/gpu_check.py" "$@"
