"""Parsing TFRecord image datasets: tfx-bsl's batch decoder against tf.train.Example per record.

    python benchmarks/image_records.py [--records 4000] [--batch 64]

Both pull (image/filename, image/encoded) from the same serialized Examples (photo-sized JPEGs,
plus the label and size features an ImageNet shard carries). Prints records per second of each
on this machine and their ratio, measured in one run after a warm-up pass.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import tensorflow as tf
from PIL import Image

from transforms.image_records import DECODE_BATCH, ExampleDecoder


def photo_jpeg() -> bytes:
    from sklearn.datasets import load_sample_images

    buffer = io.BytesIO()
    Image.fromarray(load_sample_images().images[0]).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def imagenet_like(image: bytes, index: int) -> bytes:
    def ints(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
        "image/filename": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[f"n{index:08d}.JPEG".encode()])
        ),
        "image/class/label": ints(index % 1000),
        "image/height": ints(427),
        "image/width": ints(640),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def plain(records: list[bytes]) -> list[tuple[bytes, bytes]]:
    out = []
    for record in records:
        feature = tf.train.Example.FromString(record).features.feature
        out.append(
            (
                feature["image/filename"].bytes_list.value[0],
                feature["image/encoded"].bytes_list.value[0],
            )
        )
    return out


def batched(records: list[bytes], batch: int) -> list[tuple[bytes, bytes]]:
    decoder = ExampleDecoder("image/filename", "image/encoded")
    out = []
    for start in range(0, len(records), batch):
        out.extend(decoder.decode(records[start : start + batch]))
    return out


def rate(function, *args) -> tuple[float, list]:
    function(*args)  # warm-up
    start = time.perf_counter()
    result = function(*args)
    return len(args[0]) / (time.perf_counter() - start), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=DECODE_BATCH)
    args = parser.parse_args()
    image = photo_jpeg()
    records = [imagenet_like(image, i) for i in range(args.records)]
    plain_rate, expected = rate(plain, records)
    tfx_rate, got = rate(batched, records, args.batch)
    assert got == expected
    print(f"{args.records} records of {np.mean([len(r) for r in records]) / 1024:.0f} KiB")
    print(f"tf.train.Example.FromString  {plain_rate:10.0f} records/s")
    print(f"tfx-bsl batch of {args.batch:<4}       {tfx_rate:10.0f} records/s")
    print(f"ratio tfx-bsl / plain        {tfx_rate / plain_rate:10.2f}")


if __name__ == "__main__":
    main()
