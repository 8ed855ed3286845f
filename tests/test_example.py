"""The hand-written tf.train.Example encoding, parsed back by TensorFlow itself."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from transforms.example import embedding_example


@pytest.mark.parametrize("dim", [0, 1, 31, 1792])
@pytest.mark.parametrize("uri", ["gs://b/a.jpg", "/data/ümlaut and space/猫.png"])
def test_round_trip_through_tf_train_example(dim, uri):
    vector = np.random.default_rng(dim).normal(size=dim).astype(np.float32)
    serialized = embedding_example(
        uri, vector, "https://tfhub.dev/google/efficientnet/b4/feature-vector/1"
    )
    example = tf.train.Example.FromString(serialized)
    features = example.features.feature
    assert set(features) == {"uri", "embedding", "model"}
    assert features["uri"].bytes_list.value == [uri.encode()]
    assert features["model"].bytes_list.value == [
        b"https://tfhub.dev/google/efficientnet/b4/feature-vector/1"
    ]
    np.testing.assert_array_equal(
        np.array(features["embedding"].float_list.value, np.float32), vector
    )


def test_same_message_as_tensorflow_builds():
    vector = np.linspace(-1, 1, 1792, dtype=np.float32)
    expected = tf.train.Example(
        features=tf.train.Features(
            feature={
                "uri": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a.jpg"])),
                "embedding": tf.train.Feature(float_list=tf.train.FloatList(value=vector)),
                "model": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"m"])),
            }
        )
    )
    assert tf.train.Example.FromString(embedding_example("a.jpg", vector, "m")) == expected


def test_float64_vectors_are_stored_as_float32():
    vector = np.array([0.1, 2.5, -3.0])
    parsed = tf.io.parse_single_example(
        embedding_example("x", vector, "m"), {"embedding": tf.io.FixedLenFeature([3], tf.float32)}
    )
    np.testing.assert_allclose(parsed["embedding"].numpy(), vector.astype(np.float32))
