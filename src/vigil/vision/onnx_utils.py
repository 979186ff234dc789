"""Small helpers shared by the ONNX Runtime backends (session creation, dynamic shapes, file checks)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
import onnxruntime as ort

from vigil.errors import ModelLoadError


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_onnx(path: Path, what: str) -> onnx.ModelProto:
    """Load an ONNX file, turning any parse failure into a ModelLoadError that names what was expected."""
    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx raises several unrelated types for a bad file
        raise ModelLoadError(f"{path}: expected {what} as an ONNX file, but it could not be parsed ({exc})") from exc


def _parse(payload: bytes) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(payload)
    except Exception as exc:
        raise ModelLoadError(f"ONNX Runtime could not load the model: {exc}") from exc
    return model


def input_dims(model: onnx.ModelProto) -> dict[str, list[int | str]]:
    initialisers = {init.name for init in model.graph.initializer}
    out: dict[str, list[int | str]] = {}
    for value in model.graph.input:
        if value.name in initialisers:
            continue
        out[value.name] = [d.dim_value if d.dim_value else d.dim_param for d in value.type.tensor_type.shape.dim]
    return out


def output_dims(model: onnx.ModelProto) -> dict[str, list[int | str]]:
    return {
        value.name: [d.dim_value if d.dim_value else d.dim_param for d in value.type.tensor_type.shape.dim]
        for value in model.graph.output
    }


def set_dims(model: onnx.ModelProto, dims: dict[str, list[int | str]]) -> onnx.ModelProto:
    """Rename fixed input/output dimensions to symbolic ones (e.g. a free batch size)."""
    for value in [*model.graph.input, *model.graph.output]:
        if value.name not in dims:
            continue
        for dim, new in zip(value.type.tensor_type.shape.dim, dims[value.name], strict=True):
            if isinstance(new, str):
                dim.ClearField("dim_value")
                dim.dim_param = new
            else:
                dim.ClearField("dim_param")
                dim.dim_value = new
    del model.graph.value_info[:]  # stale intermediate shapes would contradict the new ones
    return model


def weights_as_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model without its weights listed among the graph's inputs.

    Older exporters (CenterFace's among them) list every initialiser as a graph input too, which tells
    ONNX Runtime that a caller might feed a different value: it then folds nothing into the
    convolutions (batch norm stays a separate pass over every activation). Nobody feeds weights, so
    they are made constants; the arithmetic is the same (BENCHMARKS.md: CenterFace 101 → 51 ms at
    960×544 on one core, detections equal to within float rounding).
    """
    weights = {init.name for init in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in weights]
    if len(inputs) == len(model.graph.input):
        return model
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return model


def make_session(model: onnx.ModelProto | bytes, threads: int) -> ort.InferenceSession:
    """A CPU session; ``threads`` = 0 lets ONNX Runtime choose. Weights listed as inputs are made
    constants first (:func:`weights_as_constants`)."""
    if isinstance(model, bytes):
        model = _parse(model)
    model = weights_as_constants(model)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle pool threads sleep instead of spinning: many camera threads (and, scaled out, several worker
    # processes) share the cores, and spinning threads would take the CPU the next inference needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    payload = model.SerializeToString()
    try:
        return ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"ONNX Runtime could not load the model: {exc}") from exc
