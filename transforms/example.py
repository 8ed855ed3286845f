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


def _varint(value: int) -> bytes:
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


def _float_feature(values: np.ndarray) -> bytes:
    packed = np.ascontiguousarray(values, dtype="<f4").tobytes()
    return _field(_FIELD_2, _field(_FIELD_1, packed))  # Feature.float_list, packed


def _int64_feature(value: int) -> bytes:
    return _field(_FIELD_3, _field(_FIELD_1, _varint(value)))  # Feature.int64_list, packed


def embedding_example(
    uri: str,
    vector: np.ndarray,
    model: str,
    *,
    fingerprint: str,
    embedded_at: int,
    run: str,
) -> bytes:
    """A serialized tf.train.Example with features `uri`, `embedding`, `model`, `fingerprint`
    (the version of the file embedded), `embedded_at` (microseconds since the Unix epoch, UTC)
    and `run` (the run that wrote it)."""
    features = (
        _entry("uri", _bytes_feature(uri.encode()))
        + _entry("embedding", _float_feature(vector))
        + _entry("model", _bytes_feature(model.encode()))
        + _entry("fingerprint", _bytes_feature(fingerprint.encode()))
        + _entry("embedded_at", _int64_feature(embedded_at))
        + _entry("run", _bytes_feature(run.encode()))
    )
    return _field(_FIELD_1, features)
