"""tf.train.Example records for embeddings, serialized without building protos in Python.

A 1792-float vector through `tf.train.FloatList(value=...)` iterates element by element; written as
protobuf wire format it is one `tobytes()`. `tests/test_example.py` parses the result back with
TensorFlow's own `tf.train.Example`.
"""

from __future__ import annotations

import numpy as np

# Field 1 of Example (features), Features (feature map), map entries (key) and BytesList /
# FloatList / Int64List (value) is tag 0x0A; field 2 (map value, Feature.float_list) is 0x12;
# field 3 (Feature.int64_list) is 0x1A. All are length-delimited.
_FIELD_1 = b"\x0a"
_FIELD_2 = b"\x12"
_FIELD_3 = b"\x1a"


# The varint of each value below 128: that value's one byte.
_SMALL = [bytes((value,)) for value in range(0x80)]


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _SMALL[value]  # the length of any field shorter than 128 bytes
    value &= (1 << 64) - 1  # a negative int64 is its two's complement, ten bytes long
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _entry(key: str, feature: bytes) -> bytes:
    return _field(_FIELD_1, _field(_FIELD_1, key.encode()) + _field(_FIELD_2, feature))


def _bytes_feature(value: bytes) -> bytes:
    return _field(_FIELD_1, _field(_FIELD_1, value))  # Feature.bytes_list with one value


def _int64_feature(value: int) -> bytes:
    return _field(_FIELD_3, _field(_FIELD_1, _varint(value)))  # Feature.int64_list, packed


class ExampleEncoder:
    """Serializes the embedding records of one run of one model. The features that every record
    of the run shares are encoded once, and a vector's bytes are copied once, into the record."""

    def __init__(self, model: str, run: str):
        self._model = _entry("model", _bytes_feature(model.encode()))
        self._run = _entry("run", _bytes_feature(run.encode()))

    def encode(self, uri: str, vector: np.ndarray, fingerprint: str, embedded_at: int) -> bytes:
        """A serialized tf.train.Example with features `uri`, `embedding`, `model`,
        `fingerprint` (the version of the file embedded), `embedded_at` (microseconds since the
        Unix epoch, UTC) and `run` (the run that wrote it)."""
        packed = np.ascontiguousarray(vector, dtype="<f4").tobytes()
        parts = (
            _entry("uri", _bytes_feature(uri.encode())),
            _float_entry_head("embedding", len(packed)),
            packed,
            self._model,
            _entry("fingerprint", _bytes_feature(fingerprint.encode())),
            _entry("embedded_at", _int64_feature(embedded_at)),
            self._run,
        )
        length = sum(len(part) for part in parts)
        return b"".join((_FIELD_1, _varint(length), *parts))


def _float_entry_head(key: str, packed_length: int) -> bytes:
    """The map entry `key` -> Feature.float_list (field 2) holding `packed_length` bytes of
    packed floats, up to where those bytes begin."""
    float_list = _FIELD_1 + _varint(packed_length)
    feature = _FIELD_2 + _varint(len(float_list) + packed_length)
    value = (
        _field(_FIELD_1, key.encode())
        + _FIELD_2
        + _varint(len(feature) + len(float_list) + packed_length)
    )
    return (
        _FIELD_1
        + _varint(len(value) + len(feature) + len(float_list) + packed_length)
        + value
        + feature
        + float_list
    )


def embedding_example(
    uri: str,
    vector: np.ndarray,
    model: str,
    *,
    fingerprint: str,
    embedded_at: int,
    run: str,
) -> bytes:
    """One record, as `ExampleEncoder(model, run).encode(...)` makes it."""
    return ExampleEncoder(model, run).encode(uri, vector, fingerprint, embedded_at)
