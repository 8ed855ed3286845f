"""The hand-written tf.train.Example encoding, parsed back by TensorFlow itself."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from transforms.example import embedding_example

MODEL = "https://tfhub.dev/google/efficientnet/b4/feature-vector/1"
VERSION = {"fingerprint": "size=1;updated=2.000000", "embedded_at": 1, "run": "r"}


@pytest.mark.parametrize("dim", [0, 1, 31, 1792])
@pytest.mark.parametrize("uri", ["gs://b/a.jpg", "/data/ümlaut and space/猫.png"])
def test_round_trip_through_tf_train_example(dim, uri):
    embedded_at = 1_795_000_000_000_000
    vector = np.random.default_rng(dim).normal(size=dim).astype(np.float32)
    serialized = embedding_example(
        uri,
        vector,
        MODEL,
        fingerprint="size=12;updated=1795000000.250000",
        embedded_at=embedded_at,
        run="20261125T223919Z",
    )
    example = tf.train.Example.FromString(serialized)
    features = example.features.feature
    assert set(features) == {"uri", "embedding", "model", "fingerprint", "embedded_at", "run"}
    assert features["uri"].bytes_list.value == [uri.encode()]
    assert features["model"].bytes_list.value == [MODEL.encode()]
    assert features["fingerprint"].bytes_list.value == [b"size=12;updated=1795000000.250000"]
    assert features["embedded_at"].int64_list.value == [embedded_at]
    assert features["run"].bytes_list.value == [b"20261125T223919Z"]
    np.testing.assert_array_equal(
        np.array(features["embedding"].float_list.value, np.float32), vector
    )


@pytest.mark.parametrize("value", [0, 1, 127, 128, 2**35, -5, 2**63 - 1, -(2**63)])
def test_int64_values_round_trip(value):
    serialized = embedding_example("a", np.zeros(1), "m", fingerprint="", embedded_at=value, run="")
    assert tf.train.Example.FromString(serialized).features.feature[
        "embedded_at"
    ].int64_list.value == [value]


def test_same_message_as_tensorflow_builds():
    vector = np.linspace(-1, 1, 1792, dtype=np.float32)

    def text(value: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))

    expected = tf.train.Example(
        features=tf.train.Features(
            feature={
                "uri": text("a.jpg"),
                "embedding": tf.train.Feature(float_list=tf.train.FloatList(value=vector)),
                "model": text("m"),
                "fingerprint": text(VERSION["fingerprint"]),
                "embedded_at": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
                "run": text("r"),
            }
        )
    )
    assert tf.train.Example.FromString(embedding_example("a.jpg", vector, "m", **VERSION)) == (
        expected
    )


def test_float64_vectors_are_stored_as_float32():
    vector = np.array([0.1, 2.5, -3.0])
    parsed = tf.io.parse_single_example(
        embedding_example("x", vector, "m", **VERSION),
        {"embedding": tf.io.FixedLenFeature([3], tf.float32)},
    )
    np.testing.assert_allclose(parsed["embedding"].numpy(), vector.astype(np.float32))
