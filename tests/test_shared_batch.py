"""A batch for a model that a shared model server holds goes there through shared memory, kept
for the next batch; where shared memory cannot hold it, through the server's connection."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import uuid

import numpy as np
import pytest
from apache_beam.utils.multi_process_shared import MultiProcessShared

from transforms import shared_batch


class Means(shared_batch.SharedBatchTarget):
    """Each image's mean, 4 times, and how each batch arrived."""

    def __init__(self):
        self.arrivals: list[str] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.arrivals.append("call")
        return np.repeat(images.mean(axis=(1, 2, 3), dtype=np.float32)[:, None], 4, axis=1)

    def embed_shared(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        self.arrivals.append("shared memory")
        return super().embed_shared(name, shape)

    def seen(self) -> list[str]:
        return list(self.arrivals)


@pytest.fixture
def blocks(monkeypatch):
    """A pool of blocks of the test's own, removed afterwards."""
    pool = shared_batch._Blocks()
    monkeypatch.setattr(shared_batch, "_blocks", pool)
    yield pool
    pool.remove_all()


@contextlib.contextmanager
def served(model_class):
    """A proxy of a model_class instance from a shared model server, as RunInference's
    large_model gets it."""
    shared = MultiProcessShared(model_class, tag=f"test-{uuid.uuid4()}", always_proxy=True)
    proxy = shared.acquire()
    try:
        yield proxy
    finally:
        shared.release(proxy)


def batches() -> list[list[np.ndarray]]:
    rng = np.random.default_rng(7)
    return [[rng.integers(0, 256, (20, 30, 3), np.uint8) for _ in range(n)] for n in (5, 5, 2)]


def test_batches_go_through_one_kept_block(blocks):
    with served(Means) as proxy:
        for images in batches():
            got = shared_batch.embed(proxy, images)
            np.testing.assert_allclose(got, Means()(np.stack(images)))
        assert proxy.seen() == ["shared memory", "call"] * 3
    assert len(blocks._all) == 1, "a block is made once and reused, the shorter batch too"
    name = blocks._all[0].name
    assert os.path.exists(f"/dev/shm/{name}")
    blocks.remove_all()
    assert not os.path.exists(f"/dev/shm/{name}")


def test_without_room_in_shared_memory_batches_go_through_the_connection(
    blocks, monkeypatch, caplog
):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shared_batch.os, "posix_fallocate", full)
    with served(Means) as proxy, caplog.at_level(logging.WARNING, "transforms.shared_batch"):
        for images in batches():
            got = shared_batch.embed(proxy, images)
            np.testing.assert_allclose(got, Means()(np.stack(images)))
        assert proxy.seen() == ["call"] * 3
    assert blocks._all == []
    warnings = [r.getMessage() for r in caplog.records if "Shared memory" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "/dev/shm" in warnings[0] and "connection" in warnings[0]


def test_the_model_side_keeps_at_most_so_many_blocks_mapped(monkeypatch):
    monkeypatch.setattr(shared_batch, "MAPPED_BLOCKS", 2)
    monkeypatch.setattr(shared_batch, "_maps", type(shared_batch._maps)())
    blocks = shared_batch._Blocks()
    try:
        made = [blocks._make(64) for _ in range(3)]
        for index, block in enumerate(made):
            block.buf[:] = bytes([index]) * 64
            got = Means().embed_shared(block.name, (1, 4, 4, 4))
            assert got[0, 0] == index
        assert list(shared_batch._maps) == [made[1].name, made[2].name]
    finally:
        blocks.remove_all()


class ElsewhereMeans(Means):
    """Means in a process with another /dev/shm, as in another container: no block opens."""

    def embed_shared(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        self.arrivals.append("refused")
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", f"/{name}")


def test_where_the_model_cannot_open_the_blocks_batches_go_through_the_connection(blocks, caplog):
    with served(ElsewhereMeans) as proxy, caplog.at_level(logging.WARNING, "transforms"):
        for images in batches():
            got = shared_batch.embed(proxy, images)
            np.testing.assert_allclose(got, Means()(np.stack(images)))
        assert proxy.seen() == ["refused", "call", "call", "call"]
    assert blocks._all == [] and blocks._free == []
    warnings = [r.getMessage() for r in caplog.records if "cannot open" in r.getMessage()]
    assert len(warnings) == 1, warnings


class Sums:
    """A model that knows nothing of shared memory."""

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return images.sum(axis=(1, 2, 3), dtype=np.float32)[:, None]


def test_a_model_that_takes_no_blocks_gets_its_batches_through_the_connection(blocks):
    images = batches()[0]
    with served(Sums) as proxy:
        np.testing.assert_allclose(shared_batch.embed(proxy, images), Sums()(np.stack(images)))
    assert blocks._all == []
