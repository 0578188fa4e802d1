#!/usr/bin/env bash
# The cpu-scale runs behind the issue-2 results (MNIST LeNet-5 and Fashion-MNIST ResNet-20, JST at 50%
# FLOPs beside the dense network trained by the same code). Re-running reuses finished runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
ROOT=${JST_DATA_ROOT:-../shared/data}
for spec in "mnist lenet5" "fashion_mnist resnet20"; do
  set -- $spec
  for method in jst dense; do
    $PY -m jst run --method $method --dataset $1 --arch $2 --data-root "$ROOT" --scale cpu \
      --flops-target 0.5 --seed 0 --out results/cpu/$1-$2-$method-s0
  done
done
