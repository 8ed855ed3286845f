"""Decoding reuses Pillow's freed memory in every process (transforms/decode.py), counted in
page faults of a fresh process rather than timed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DECODE_IN_A_FRESH_PROCESS = r"""
import json, resource, sys, threading
from PIL import Image
from transforms.decode import decode_image

data = open(sys.argv[1], "rb").read()
result = {"blocks_max": Image.core.get_blocks_max()}


def decode_all():
    decode_image(data, 380)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        decode_image(data, 380)
    result["faults"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40


worker = threading.Thread(target=decode_all)
worker.start()
worker.join()
print(json.dumps(result))
"""


def decode_in_fresh_process(tmp_path, **env: str) -> dict:
    pixels = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    path = tmp_path / "photo.jpg"
    path.write_bytes(buffer.getvalue())
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PILLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", DECODE_IN_A_FRESH_PROCESS, str(path)],
        env=environment | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_decoding_does_not_fault_its_memory_in_again_for_every_image(tmp_path):
    # With Pillow's default (every freed block handed back) this is about 680 per image.
    assert decode_in_fresh_process(tmp_path)["faults"] < 20


def test_the_environment_still_decides_pillows_blocks(tmp_path):
    given_back = decode_in_fresh_process(tmp_path, PILLOW_BLOCKS_MAX="0")
    assert given_back["blocks_max"] == 0
    assert given_back["faults"] > 100  # what the default above avoids, shown here
