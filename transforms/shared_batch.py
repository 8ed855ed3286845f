"""A batch handed to a model that another process holds (`--model_sharing machine`) through
shared memory, not through the model server's connection.

Beam serves a model shared across processes through a multiprocessing manager: every call
pickles its arguments and sends them over a socket, and the server reads and unpickles them. For
a batch of 16 images at 380x380 (7 MB) that took 16 to 18 ms of the caller's CPU per call here,
about 1 ms per image, a quarter of decoding the image, and more again in the server. Stacked into
a shared-memory block instead, only the block's name and the batch's shape cross; the model reads
the pixels where the caller stacked them (a tensor over that memory, with no copy:
`tensors.as_tensor`), and only the vectors travel back pickled.

Blocks are kept and reused: a new one costs more than the socket saves (6 to 7 ms per 7 MB here,
the kernel handing out and zeroing its pages, against 0.4 ms to stack into a kept one). Each
caller process keeps the blocks of its calls in flight, at most one per thread, and gives a
block to one call at a time; the server keeps each block it has seen mapped. Where no block of a
batch's size can be had (a container's /dev/shm is often 64 MB), or where the model's process
cannot open the caller's blocks (it runs in another container, with a /dev/shm of its own),
batches travel through the connection.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import math
import mmap
import os
import threading
from collections.abc import Sequence
from multiprocessing import shared_memory

import numpy as np

from transforms.tensors import stack_aligned

logger = logging.getLogger(__name__)
# Blocks the model's process keeps mapped, the least recently used first out.
MAPPED_BLOCKS = 64


class SharedBatchTarget:
    """Mixed into a model class whose instances a shared model server holds: takes batches
    that callers left in shared memory. The class must be callable on (N, H, W, 3) uint8."""

    def embed_shared(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The vectors of the uint8 batch of `shape` in the shared-memory block `name`."""
        return self(_view(name, shape))


def embed(model, images: Sequence[np.ndarray]) -> np.ndarray:
    """`model`'s vectors for the uint8 `images`, where `model` is a shared model server's proxy:
    through a shared-memory block where it proxies a SharedBatchTarget, through the connection
    where it does not or where no block can be had."""
    first = np.asarray(images[0])
    shape = (len(images), *first.shape)
    takes_blocks = first.dtype == np.uint8 and hasattr(model, "embed_shared")
    block = _blocks.take(math.prod(shape)) if takes_blocks else None
    if block is not None:
        try:
            np.stack(images, out=np.ndarray(shape, np.uint8, buffer=block.buf))
            return model.embed_shared(block.name, shape)
        except FileNotFoundError as exc:
            # The model's process has another /dev/shm (another container): it cannot open
            # this process's blocks, so none are made here from now on.
            _blocks.unreachable(exc)
        finally:
            _blocks.give_back(block)
    return model(stack_aligned(images))


class _Blocks:
    """The caller's side: blocks free for the next call, made as calls need them."""

    def __init__(self):
        self._free: list[shared_memory.SharedMemory] = []
        self._all: list[shared_memory.SharedMemory] = []
        self._lock = threading.Lock()
        self._warned = False
        self._unreachable = False
        atexit.register(self.remove_all)

    def take(self, nbytes: int) -> shared_memory.SharedMemory | None:
        if self._unreachable:
            return None
        with self._lock:
            for block in self._free:
                if block.size >= nbytes:
                    self._free.remove(block)
                    return block
        return self._make(nbytes)

    def give_back(self, block: shared_memory.SharedMemory) -> None:
        with self._lock:
            if not self._unreachable:
                self._free.append(block)
                return
            self._all.remove(block)
        _remove(block)

    def unreachable(self, error: OSError) -> None:
        """No more blocks: the model cannot open them. Each goes as it comes back."""
        with self._lock:
            if self._unreachable:
                return
            self._unreachable = True
            for block in self._free:
                self._all.remove(block)
                _remove(block)
            self._free.clear()
        logger.warning(
            "The shared model's process cannot open this process's shared memory (%s; it runs "
            "in another container?): batches go to it through its connection, slower",
            error,
        )

    def forget(self) -> None:
        """In a forked child: the blocks are the parent's, to use and remove there only."""
        self._free, self._all, self._lock = [], [], threading.Lock()

    def remove_all(self) -> None:
        with self._lock:
            for block in self._all:
                _remove(block)
            self._free.clear()
            self._all.clear()

    def _make(self, nbytes: int) -> shared_memory.SharedMemory | None:
        """A new block whose memory is reserved now, or None where /dev/shm cannot hold it
        (said once per process): a block only sized, not reserved, would kill the process with
        SIGBUS at the first page that does not fit."""
        block = None
        try:
            block = shared_memory.SharedMemory(create=True, size=nbytes)
            if hasattr(os, "posix_fallocate"):  # Linux; macOS's shared memory is not tmpfs
                os.posix_fallocate(block._fd, 0, nbytes)  # noqa: SLF001 - the block's descriptor
        except OSError as exc:
            if block is not None:
                _remove(block)
            if not self._warned:
                self._warned = True
                logger.warning(
                    "Shared memory cannot hold a batch of %d bytes (%s; a container's /dev/shm "
                    "is often 64 MB): batches go to the shared model through its connection, "
                    "slower",
                    nbytes,
                    exc,
                )
            return None
        with self._lock:
            self._all.append(block)
        return block


def _remove(block: shared_memory.SharedMemory) -> None:
    with contextlib.suppress(BufferError):  # still read: the memory goes with its last mapping
        block.close()
    block.unlink()


_blocks = _Blocks()
os.register_at_fork(after_in_child=_blocks.forget)
_maps: collections.OrderedDict[str, mmap.mmap] = collections.OrderedDict()
_maps_lock = threading.Lock()


def _view(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The model's side: the uint8 array of `shape` in the caller's block `name`, mapped once
    and kept. Made under the lock, so that no other call unmaps the block before the array holds
    it. Opened by name, not through SharedMemory: that would register the block with this
    process's resource tracker, which it may share with the caller, and the caller's own removal
    would then fail there."""
    import _posixshmem

    with _maps_lock:
        mapping = _maps.get(name)
        if mapping is None:
            descriptor = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=0o600)
            try:
                mapping = mmap.mmap(descriptor, os.fstat(descriptor).st_size)
            finally:
                os.close(descriptor)
            _maps[name] = mapping
        _maps.move_to_end(name)
        view = np.ndarray(shape, np.uint8, buffer=mapping)
        while len(_maps) > MAPPED_BLOCKS:
            _, oldest = _maps.popitem(last=False)
            with contextlib.suppress(BufferError):  # still read: unmapped when the call lets go
                oldest.close()
        return view
