"""Convert dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

The converter is a pure function of the file's bytes: it parses the network with
:mod:`vigil.vision.dlib_format`, checks it against the architecture dlib published for the model
(``dnn_face_recognition_ex.cpp``), and emits an equivalent ONNX graph:

* input ``chips``: uint8, shape (N, 150, 150, 3), RGB, aligned face chips as dlib's ``get_face_chip``
  makes them (size 150, padding 0.25);
* output ``descriptor``: float32, shape (N, 128), exactly dlib's ``compute_face_descriptor`` (not
  normalised).

dlib layers map one to one onto ONNX operators; ``affine`` layers (dlib's frozen batch norm) are folded
into the convolution before them. dlib's ``add_prev`` adds tensors of different shapes by zero-padding
the smaller one at the end of each axis; the graph does the same with explicit ``Pad`` nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vigil.errors import ModelLoadError
from vigil.vision.dlib_format import DlibLayer, DlibNetwork, read_dlib_network

INPUT_NAME = "chips"
OUTPUT_NAME = "descriptor"
CHIP_SIZE = 150


@dataclass(frozen=True)
class _Token:
    """One element of the published architecture, top-down: a layer kind, or a tag/skip with its id."""

    kind: str
    tag: int = 0


def _block(n_filters: int, stride: int) -> list[_Token]:
    del n_filters, stride  # the file carries filter counts and strides; only the kinds are checked here
    return [_Token("affine"), _Token("con"), _Token("relu"), _Token("affine"), _Token("con")]


def _ares(n: int) -> list[_Token]:
    return [_Token("relu"), _Token("add_prev", 1), *_block(n, 1), _Token("tag", 1)]


def _ares_down(n: int) -> list[_Token]:
    return [
        _Token("relu"),
        _Token("add_prev", 2),
        _Token("avg_pool"),
        _Token("skip", 1),
        _Token("tag", 2),
        *_block(n, 2),
        _Token("tag", 1),
    ]


def published_architecture() -> list[_Token]:
    """dlib's ``anet_type`` for the face descriptor, top-down (loss side first)."""
    tokens = [_Token("fc"), _Token("avg_pool")]
    tokens += _ares_down(256)
    tokens += _ares(256) + _ares(256) + _ares_down(256)
    tokens += _ares(128) + _ares(128) + _ares_down(128)
    tokens += _ares(64) + _ares(64) + _ares(64) + _ares_down(64)
    tokens += _ares(32) + _ares(32) + _ares(32)
    tokens += [_Token("max_pool"), _Token("relu"), _Token("affine"), _Token("con")]
    return tokens


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, prefix: str, array: np.ndarray) -> str:
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


Shape = tuple[int, int, int]  # channels, rows, columns


def _pad_to(builder: _GraphBuilder, value: str, shape: Shape, target: Shape) -> str:
    if shape == target:
        return value
    pads = np.array([0, 0, 0, 0, 0, *(t - s for t, s in zip(target, shape, strict=True))], dtype=np.int64)
    return builder.node("Pad", [value, builder.const("pads", pads)], mode="constant")


def _check_layer(token: _Token, layer: DlibLayer, index: int) -> None:
    if token.kind != layer.kind:
        raise ModelLoadError(
            f"dlib network layer {index} (from the input): expected '{token.kind}', found '{layer.kind}'; "
            "this is not dlib_face_recognition_resnet_model_v1"
        )


def _tokens_bottom_up(network: DlibNetwork) -> list[tuple[_Token, DlibLayer | None]]:
    expected = published_architecture()
    versions_expected = [1 if t.kind in ("tag", "skip") else 2 for t in expected[:-1]]
    if list(network.nesting) != versions_expected:
        raise ModelLoadError(
            f"dlib network nesting does not match dlib_face_recognition_resnet_model_v1: expected "
            f"{len(versions_expected)} nested layers ({versions_expected.count(1)} tags/skips), found "
            f"{len(network.nesting)} ({network.nesting.count(1)} tags/skips)"
        )
    layers = iter(network.layers)
    paired: list[tuple[_Token, DlibLayer | None]] = []
    for index, token in enumerate(reversed(expected)):
        if token.kind in ("tag", "skip"):
            paired.append((token, None))
            continue
        layer = next(layers, None)
        if layer is None:
            raise ModelLoadError("dlib network has fewer layers than the published architecture")
        _check_layer(token, layer, index)
        paired.append((token, layer))
    if next(layers, None) is not None:
        raise ModelLoadError("dlib network has more layers than the published architecture")
    return paired


def network_to_onnx(network: DlibNetwork) -> onnx.ModelProto:
    """Build the ONNX graph for a parsed dlib face-descriptor network."""
    if network.input_size != (CHIP_SIZE, CHIP_SIZE):
        raise ModelLoadError(f"expected a {CHIP_SIZE}x{CHIP_SIZE} input layer, found {network.input_size}")
    b = _GraphBuilder()
    x = b.node("Cast", [INPUT_NAME], to=TensorProto.FLOAT)
    x = b.node("Transpose", [x], perm=[0, 3, 1, 2])
    mean = np.array(network.input_mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    x = b.node("Sub", [x, b.const("mean", mean)])
    x = b.node("Mul", [x, b.const("scale", np.array(1.0 / 256.0, dtype=np.float32))])
    shape: Shape = (3, CHIP_SIZE, CHIP_SIZE)
    tags: dict[int, tuple[str, Shape]] = {}
    # A convolution waiting for a possible affine layer to fold in: (input, weight, bias, attrs, shape).
    pending: tuple[str, np.ndarray, np.ndarray, dict[str, Any], Shape] | None = None

    def flush() -> None:
        nonlocal x, pending
        if pending is not None:
            src, weight, bias, attrs, _ = pending
            x = b.node("Conv", [src, b.const("w", weight), b.const("b", bias)], **attrs)
            pending = None

    for token, layer in _tokens_bottom_up(network):
        if layer is not None and layer.kind == "affine" and pending is not None:
            gamma, beta = layer.arrays["gamma"], layer.arrays["beta"]
            src, weight, bias, attrs, _ = pending
            pending = (src, weight * gamma[:, None, None, None], bias * gamma + beta, attrs, shape)
            continue
        flush()
        if token.kind == "tag":
            tags[token.tag] = (x, shape)
        elif token.kind == "skip":
            x, shape = tags[token.tag]
        elif token.kind == "add_prev":
            other, other_shape = tags[token.tag]
            target: Shape = tuple(max(a, c) for a, c in zip(shape, other_shape, strict=True))  # type: ignore[assignment]
            x = b.node("Add", [_pad_to(b, x, shape, target), _pad_to(b, other, other_shape, target)])
            shape = target
        elif layer is None:
            raise ModelLoadError(f"unexpected architecture token {token.kind!r}")
        elif layer.kind == "con":
            ints = layer.ints
            weight = layer.arrays["weight"]
            if weight.shape[1] != shape[0]:
                raise ModelLoadError(f"con_ expects {weight.shape[1]} input channels, graph has {shape[0]}")
            conv_attrs: dict[str, Any] = {
                "kernel_shape": [ints["nr"], ints["nc"]],
                "strides": [ints["stride_y"], ints["stride_x"]],
                "pads": [ints["padding_y"], ints["padding_x"], ints["padding_y"], ints["padding_x"]],
            }
            rows = 1 + (shape[1] + 2 * ints["padding_y"] - ints["nr"]) // ints["stride_y"]
            cols = 1 + (shape[2] + 2 * ints["padding_x"] - ints["nc"]) // ints["stride_x"]
            shape = (ints["num_filters"], rows, cols)
            pending = (x, weight.copy(), layer.arrays["bias"].copy(), conv_attrs, shape)
        elif layer.kind == "affine":
            gamma = layer.arrays["gamma"].reshape(1, -1, 1, 1)
            beta = layer.arrays["beta"].reshape(1, -1, 1, 1)
            x = b.node("Add", [b.node("Mul", [x, b.const("gamma", gamma)]), b.const("beta", beta)])
        elif layer.kind == "relu":
            x = b.node("Relu", [x])
        elif layer.kind in ("max_pool", "avg_pool"):
            ints = layer.ints
            if ints["nr"] == 0 and ints["nc"] == 0:
                x = b.node("GlobalAveragePool", [x])
                shape = (shape[0], 1, 1)
                continue
            if ints["padding_y"] or ints["padding_x"]:
                raise ModelLoadError("padded pooling layers are not supported by this converter")
            op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
            x = b.node(op, [x], kernel_shape=[ints["nr"], ints["nc"]], strides=[ints["stride_y"], ints["stride_x"]])
            rows = 1 + (shape[1] - ints["nr"]) // ints["stride_y"]
            cols = 1 + (shape[2] - ints["nc"]) // ints["stride_x"]
            shape = (shape[0], rows, cols)
        elif layer.kind == "fc":
            weight = layer.arrays["weight"]
            if weight.shape[0] != shape[0] * shape[1] * shape[2]:
                raise ModelLoadError(f"fc_ expects {weight.shape[0]} inputs, graph has {shape}")
            x = b.node("Flatten", [x], axis=1)
            x = b.node("MatMul", [x, b.const("fc", weight)])
            if "bias" in layer.arrays:
                x = b.node("Add", [x, b.const("fc_bias", layer.arrays["bias"])])
            shape = (weight.shape[1], 1, 1)
    flush()
    b.nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME], name="output"))
    graph = helper.make_graph(
        b.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["N", CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", shape[0]])],
        b.initializers,
    )
    model = helper.make_model(
        graph,
        producer_name="vigil.dlib_to_onnx",
        opset_imports=[helper.make_opsetid("", 17)],
        doc_string="dlib ResNet face descriptor converted by Vigil; equivalent to compute_face_descriptor.",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def convert_dlib_face_descriptor(data: bytes, source: str = "dlib model") -> onnx.ModelProto:
    """Parse dlib's serialized face descriptor network and return the equivalent ONNX model."""
    return network_to_onnx(read_dlib_network(data, source))
