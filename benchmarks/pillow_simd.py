"""What the cores decode with Pillow-SIMD in place of Pillow: the job's own `decode_image` over the
same JPEGs, by photo size, on one core and on every core at once (a process each), the two builds
alternating, --repeats times; medians, their ratio, and how far the two builds' pixels differ.

    python benchmarks/pillow_simd.py --site DIR [--sizes 640x480,1600x1200,4032x3024]
        [--repeats 3] [--photos-per-core 24]

DIR holds the other build (`tools/install-pillow-simd DIR`). Each measurement runs in a process of
its own, with DIR first on PYTHONPATH or without it, over photos made once, by the installed
Pillow, from the samples (feed_on_cores.make_photos). The pixels of the first photos of each size
are compared on the [0, 1] scale: mean and largest absolute difference. JSON lines on stdout,
also appended to $OUT/pillow_simd.jsonl where OUT is set.

Cores are the ones this process may run on (transforms.threads.usable_cores): under
`taskset -c 0-3` it measures a machine of 4 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import numpy as np
from feed_on_cores import CORES, emit_to, make_photos
from throughput import ROOT, tree_environment

# One core decodes this many of the photos; the pixels of this many are compared.
ONE_CORE_PHOTOS = 40
COMPARED = 10

MEASURE = r"""
import json, sys
import numpy as np
import PIL
from throughput import decode_every_core, decode_per_core, read_all
from transforms.decode import decode_image

listing, pixels, one_core_photos, compared = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:5])
with open(listing) as handle:
    paths = handle.read().split()
np.save(pixels, np.stack([decode_image(blob, 380) for blob in read_all(paths[:compared])]))
print(json.dumps({
    "pillow": PIL.__version__,
    "one_core": decode_per_core(paths[:one_core_photos]),
    "every_core": decode_every_core(paths),
}))
"""


def measure(site: str | None, listing: str, pixels: str) -> dict:
    """One build's rates over the photos `listing` names, in a process of its own."""
    env = tree_environment(ROOT)
    if site:
        env["PYTHONPATH"] = os.pathsep.join([site, env["PYTHONPATH"]])
    command = [sys.executable, "-c", MEASURE, listing, pixels, str(ONE_CORE_PHOTOS), str(COMPARED)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"measuring failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_size(size: str, site: str, repeats: int, per_core: int) -> None:
    width, height = (int(side) for side in size.split("x"))
    work = tempfile.mkdtemp(prefix="pillow-simd-")
    try:
        paths = make_photos(os.path.join(work, "photos"), CORES * per_core, width, height)
        listing = os.path.join(work, "photos.txt")
        with open(listing, "w") as handle:
            handle.write("\n".join(paths))
        builds = {"pillow": None, "simd": site}
        runs: dict[str, list[dict]] = {name: [] for name in builds}
        pixels = {name: os.path.join(work, f"{name}.npy") for name in builds}
        for _ in range(repeats):
            for name, build_site in builds.items():
                runs[name].append(measure(build_site, listing, pixels[name]))
            if runs["pillow"][0]["pillow"] == runs["simd"][0]["pillow"]:
                raise SystemExit(
                    f"both sides import Pillow {runs['simd'][0]['pillow']}: run this without "
                    "Pillow-SIMD on PYTHONPATH, and give its folder as --site"
                )
        medians = {
            f"{name}_{kind}": round(statistics.median(run[kind] for run in runs[name]), 1)
            for name in builds
            for kind in ("one_core", "every_core")
        }
        difference = (
            np.abs(np.load(pixels["simd"]).astype(np.float64) - np.load(pixels["pillow"])) / 255
        )
        emit_to(
            "pillow_simd.jsonl",
            size=size,
            cores=CORES,
            photos=len(paths),
            versions={name: runs[name][0]["pillow"] for name in builds},
            **medians,
            one_core_ratio=round(medians["simd_one_core"] / medians["pillow_one_core"], 3),
            every_core_ratio=round(medians["simd_every_core"] / medians["pillow_every_core"], 3),
            repeats={
                f"{name}_{kind}": [round(run[kind], 1) for run in runs[name]]
                for name in builds
                for kind in ("one_core", "every_core")
            },
            mean_abs_difference=float(difference.mean()),
            max_abs_difference=float(difference.max()),
        )
    finally:
        shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", required=True, help="a folder holding Pillow-SIMD's PIL")
    parser.add_argument("--sizes", default="640x480,1600x1200,4032x3024")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--photos-per-core", type=int, default=24)
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.site, "PIL")):
        parser.error(f"--site {args.site} holds no PIL package: tools/install-pillow-simd DIR")
    for size in args.sizes.split(","):
        compare_size(size, os.path.abspath(args.site), args.repeats, args.photos_per_core)


if __name__ == "__main__":
    main()
