"""Batches reach TensorFlow over their own memory, aligned, with the same values."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from transforms.tensors import ALIGNMENT, aligned_empty, as_tensor, is_aligned, stack_aligned


def pixels(seed: int, size: int = 38) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("count", [1, 5, 16])
def test_stacked_batch_is_aligned_and_equal_to_np_stack(count):
    images = [pixels(seed) for seed in range(count)]
    batch = stack_aligned(images)
    assert is_aligned(batch) and batch.flags.c_contiguous
    np.testing.assert_array_equal(batch, np.stack(images))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_aligned_empty_for_any_item_size(dtype):
    for shape in [(1,), (3, 5), (2, 7, 7, 3)]:
        array = aligned_empty(shape, dtype)
        assert array.shape == shape and array.dtype == dtype
        assert array.ctypes.data % ALIGNMENT == 0


def test_images_of_different_sizes_do_not_stack():
    with pytest.raises(ValueError):
        stack_aligned([pixels(0, 38), pixels(1, 40)])


def test_tensor_is_a_view_of_the_stacked_batch():
    batch = stack_aligned([pixels(seed) for seed in range(4)])
    tensor = as_tensor(batch)
    batch[2, 5, 5] = (1, 2, 3)  # written after the tensor was made: seen only through shared memory
    np.testing.assert_array_equal(tensor.numpy(), batch)


def test_unaligned_arrays_are_copied():
    size = 4 * 38 * 38 * 3
    raw = np.zeros(size + ALIGNMENT, np.uint8)
    start = 1 if (raw.ctypes.data + 1) % ALIGNMENT else 2
    unaligned = raw[start : start + size].reshape(4, 38, 38, 3)
    unaligned[...] = np.stack([pixels(seed) for seed in range(4)])
    expected = unaligned.copy()
    tensor = as_tensor(unaligned)
    unaligned[...] = 0
    np.testing.assert_array_equal(tensor.numpy(), expected)


def test_read_only_arrays_are_copied():
    batch = stack_aligned([pixels(seed) for seed in range(4)])
    batch.flags.writeable = False
    np.testing.assert_array_equal(as_tensor(batch).numpy(), batch)


def test_the_tensor_keeps_the_batch_alive():
    images = [pixels(seed) for seed in range(8)]
    tensor = as_tensor(stack_aligned(images))  # no other reference to the batch remains
    gc.collect()
    garbage = [np.full((8, 38, 38, 3), 255, np.uint8) for _ in range(50)]
    np.testing.assert_array_equal(tensor.numpy(), np.stack(images))
    del garbage
