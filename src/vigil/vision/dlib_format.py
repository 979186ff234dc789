"""Reader for dlib's binary serialization of a DNN (``dlib::serialize(net, out)``).

Only the pieces needed by the ResNet face descriptor are understood. The format, as written by dlib:

* integers: one control byte (low nibble = byte count, bit 7 = sign) then that many little-endian bytes;
* floats/doubles: a mantissa and an exponent, each such an integer (value = mantissa * 2**exponent);
* strings: an integer length then the bytes; bools: one ASCII byte ``'0'`` or ``'1'``;
* tensors: version 2, then num_samples, k, nr, nc, then raw little-endian float32 values;
* alias tensors (views into a layer's parameter tensor): version 1, then num_samples, k, nr, nc;
* a network nests from the loss layer down: each ``add_layer`` writes its version and then its
  sub-network *before* its own layer details, so the file holds every nesting version first (top-down)
  and every layer's details after (bottom-up, from the input layer to the last layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vigil.errors import ModelLoadError


@dataclass(frozen=True)
class DlibLayer:
    """One computational layer as stored: its dlib type name, integer settings and parameter arrays."""

    kind: str
    ints: dict[str, int] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class DlibNetwork:
    """A parsed network: the top-down nesting versions, the input layer and the layers bottom-up."""

    loss: str
    nesting: tuple[int, ...]
    input_kind: str
    input_mean_rgb: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: tuple[DlibLayer, ...]


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        self._data = data
        self._pos = 0
        self._source = source

    @property
    def at_end(self) -> bool:
        return self._pos >= len(self._data)

    def fail(self, what: str) -> ModelLoadError:
        return ModelLoadError(f"{self._source}: {what} (at byte {self._pos})")

    def _take(self, count: int) -> bytes:
        if count < 0 or self._pos + count > len(self._data):
            raise self.fail(f"file ends early: needed {count} more bytes")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def peek_byte(self, offset: int = 0) -> int:
        if self._pos + offset >= len(self._data):
            raise self.fail("file ends early")
        return self._data[self._pos + offset]

    def integer(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size > 8:
            raise self.fail(f"invalid integer control byte 0x{control:02x}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return float(mantissa) * 2.0**exponent

    def string(self, max_len: int = 256) -> str:
        length = self.integer()
        if not 0 <= length <= max_len:
            raise self.fail(f"expected a short string, found length {length}")
        raw = self._take(length)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise self.fail("expected an ASCII layer name") from exc

    def boolean(self) -> bool:
        raw = self._take(1)
        if raw not in (b"0", b"1"):
            raise self.fail(f"expected a bool byte '0' or '1', found {raw!r}")
        return raw == b"1"

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise self.fail(f"expected tensor format version 2, found {version}")
        dims = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in dims):
            raise self.fail(f"negative tensor dimension {dims}")
        count = int(np.prod(dims, dtype=np.int64))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").reshape(dims).astype(np.float32)

    def alias_shape(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise self.fail(f"expected alias_tensor version 1, found {version}")
        n, k, nr, nc = (self.integer() for _ in range(4))
        return (n, k, nr, nc)


def _layer_details(reader: _Reader, kind: str) -> DlibLayer:
    if kind == "con_4":
        params = reader.tensor().reshape(-1)
        names = ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        ints = {name: reader.integer() for name in names}
        filters_shape = reader.alias_shape()
        bias_shape = reader.alias_shape()
        for _ in range(4):  # learning-rate and weight-decay multipliers: training only
            reader.real()
        n_filters = int(np.prod(filters_shape))
        n_bias = int(np.prod(bias_shape))
        if n_filters + n_bias != params.size:
            raise reader.fail(f"con_ parameters hold {params.size} values, shapes need {n_filters + n_bias}")
        return DlibLayer(
            kind="con",
            ints=ints,
            arrays={
                "weight": params[:n_filters].reshape(filters_shape),
                "bias": params[n_filters:].reshape(-1),
            },
        )
    if kind == "affine_":
        params = reader.tensor().reshape(-1)
        gamma_shape = reader.alias_shape()
        beta_shape = reader.alias_shape()
        mode = reader.integer()
        n_gamma = int(np.prod(gamma_shape))
        if n_gamma + int(np.prod(beta_shape)) != params.size:
            raise reader.fail("affine_ parameter sizes disagree")
        return DlibLayer(
            kind="affine",
            ints={"mode": mode},
            arrays={"gamma": params[:n_gamma].reshape(-1), "beta": params[n_gamma:].reshape(-1)},
        )
    if kind in ("max_pool_2", "avg_pool_2"):
        pool_names = ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        return DlibLayer(kind=kind[:-2], ints={name: reader.integer() for name in pool_names})
    if kind == "fc_2":
        num_outputs = reader.integer()
        num_inputs = reader.integer()
        params = reader.tensor().reshape(-1)
        weight_shape = reader.alias_shape()
        bias_shape = reader.alias_shape()
        bias_mode = reader.integer()
        for _ in range(4):
            reader.real()
        n_weight = int(np.prod(weight_shape))
        if n_weight + int(np.prod(bias_shape)) != params.size or n_weight != num_inputs * num_outputs:
            raise reader.fail("fc_ parameter sizes disagree")
        arrays: dict[str, np.ndarray] = {"weight": params[:n_weight].reshape(num_inputs, num_outputs)}
        if bias_mode == 0:  # FC_HAS_BIAS
            arrays["bias"] = params[n_weight:].reshape(-1)
        return DlibLayer(
            kind="fc",
            ints={"num_outputs": num_outputs, "num_inputs": num_inputs, "bias_mode": bias_mode},
            arrays=arrays,
        )
    if kind == "relu_":
        return DlibLayer(kind="relu")
    if kind == "add_prev_":
        return DlibLayer(kind="add_prev")
    raise reader.fail(f"unsupported dlib layer type {kind!r}")


def _skip_layer_state(reader: _Reader) -> None:
    """An add_layer's training state after its details: three bools and three (empty) tensors."""
    for _ in range(3):
        reader.boolean()
    for _ in range(3):
        reader.tensor()


def read_dlib_network(data: bytes, source: str = "dlib model") -> DlibNetwork:
    """Parse a serialized dlib metric-learning network (``loss_metric`` over ``input_rgb_image_sized``).

    Raises :class:`ModelLoadError` naming what was expected when the bytes are anything else.
    """
    reader = _Reader(data, source)
    if len(data) < 32:
        raise reader.fail("too short to be a dlib network")
    loss_version = reader.integer()
    if loss_version != 1:
        raise reader.fail(f"expected add_loss_layer version 1, found {loss_version}")
    loss = reader.string()
    if not loss.startswith("loss_metric"):
        raise reader.fail(f"expected a loss_metric network (dlib's face descriptor), found {loss!r}")
    reader.real()  # margin
    reader.real()  # distance threshold
    nesting: list[int] = []
    # Nesting versions until the innermost add_layer (version 3, which sits on the input layer).
    while True:
        version = reader.integer()
        if version == 3:
            break
        if version not in (1, 2):
            raise reader.fail(f"expected layer nesting version 1, 2 or 3, found {version}")
        nesting.append(version)
        if len(nesting) > 10_000:
            raise reader.fail("implausibly deep network")
    input_kind = reader.string()
    if input_kind != "input_rgb_image_sized":
        raise reader.fail(f"expected input layer 'input_rgb_image_sized', found {input_kind!r}")
    mean = (reader.real(), reader.real(), reader.real())
    size = (reader.integer(), reader.integer())
    layers: list[DlibLayer] = []
    layers.append(_layer_details(reader, reader.string()))
    _skip_layer_state(reader)
    reader.integer()  # sample expansion factor of the innermost add_layer
    while not reader.at_end:
        layers.append(_layer_details(reader, reader.string()))
        _skip_layer_state(reader)
    return DlibNetwork(
        loss=loss,
        nesting=tuple(nesting),
        input_kind=input_kind,
        input_mean_rgb=mean,
        input_size=size,
        layers=tuple(layers),
    )
