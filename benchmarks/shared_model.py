"""How many images a second one model shared by a machine's worker processes can take from them
(`--model_sharing machine`, which workers with several GPUs use): the ceiling of the handoff
itself, with a model that costs nothing.

    python benchmarks/shared_model.py [--senders 1,2,4,8,16] [--seconds 4] [--batch_size 16]
        [--repeats 2]

Each sender is a process that does what a worker process of the job does with a shared model:
it acquires the model through Beam's MultiProcessShared, as RunInference's large_model does (the
first to ask holds it, in a thread of its own process), and hands it batches of decoded-size
images (380x380, uint8) through shared memory (transforms/shared_batch.py), here as fast as it
can, with no decoding between batches, for --seconds after all have started. The model is a
6x6 grid's mean of each image (benchmarks/feed_on_cores.py's GridMeanModel), so what limits the
rate is the handoff: the senders' stacking, the model server's threads and its GIL, and the
vectors pickled back. Against what a machine's GPUs take (B4 on one H200: 1,509 img/s in
float32, 3,202 in bfloat16; README, GPU workers), it says whether one shared model can feed
them all. Senders counts above the cores this process may use are skipped. JSON lines on
stdout: images a second in all and per sender, and the senders' CPU per image, medians of
--repeats, also appended to $OUT/shared_model.jsonl where OUT is set.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import uuid

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the project, where it is not installed

from feed_on_cores import GridMeanModel, emit_to  # noqa: E402

from transforms.threads import usable_cores  # noqa: E402

IMAGE_SIZE = 380
OUTPUT = "shared_model.jsonl"


def send(tag: str, seconds: float, batch_size: int, ready, results) -> None:
    """One sender: acquires the shared model, and once every sender has, sends for `seconds`."""
    from apache_beam.utils.multi_process_shared import MultiProcessShared

    from transforms import shared_batch

    model = MultiProcessShared(GridMeanModel, tag=tag, always_proxy=True).acquire()
    rng = np.random.default_rng(os.getpid())
    images = [
        rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8) for _ in range(batch_size)
    ]
    vectors = shared_batch.embed(model, images)  # its block made and mapped before the clock
    assert vectors.shape[0] == batch_size
    ready.wait()
    sent, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        shared_batch.embed(model, images)
        sent += batch_size
    results.put((sent, time.perf_counter() - start, time.process_time() - cpu))
    ready.wait()  # the model's holder stays until every sender is done


def measure(senders: int, seconds: float, batch_size: int) -> dict:
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(senders), context.Queue()
    tag = f"shared-model-bench-{uuid.uuid4()}"
    processes = [
        context.Process(target=send, args=(tag, seconds, batch_size, ready, results))
        for _ in range(senders)
    ]
    for process in processes:
        process.start()
    done = [results.get(timeout=seconds + 300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    images = sum(sent for sent, _, _ in done)
    wall = max(elapsed for _, elapsed, _ in done)
    return {
        "img_s": images / wall,
        "per_sender": images / wall / senders,
        "sender_cpu_us": 1e6 * sum(cpu for _, _, cpu in done) / images,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--senders", default="1,2,4,8,16")
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cores = usable_cores()
    counts = [int(n) for n in args.senders.split(",") if int(n) <= cores]
    runs: dict[int, list[dict]] = {n: [] for n in counts}
    for repeat in range(args.repeats):
        for senders in counts:
            run = measure(senders, args.seconds, args.batch_size)
            runs[senders].append(run)
            rounded = {name: round(value, 1) for name, value in run.items()}
            emit_to(OUTPUT, repeat=repeat, senders=senders, **rounded)
    for senders, values in runs.items():
        medians = {
            name: round(statistics.median(run[name] for run in values), 1) for name in values[0]
        }
        emit_to(
            OUTPUT,
            stage="medians",
            senders=senders,
            cores=cores,
            batch_size=args.batch_size,
            repeats=args.repeats,
            **medians,
        )


if __name__ == "__main__":
    main()
