"""The lane layout that the compiled CPU kernels of the dsp modules share.

The numba kernels run their recursions over "lanes" (batch item x channel),
time in the outer loop and lanes innermost so that it vectorizes. Two ways
to get there:

* whole clips: :func:`to_lanes` and :func:`from_lanes` copy ``[B, C, T]`` to
  a numpy ``[T, B*C]`` array and back (the biquads, the phaser);
  :func:`lane_major` stores a tensor time-major first, so that elementwise
  ops keep that layout and the copy becomes a view;
* tiles: audio stays ``[B, 2, T]`` (no copies on the way in or out) and a
  kernel walks time in tiles of :data:`TILE` steps, copying each into a
  ``[tile, lanes]`` block with :func:`load_tile`, lane ``c * B + b`` =
  channel ``c`` of item ``b`` (the delay lines, the reverb).

:func:`use_kernel` says when the kernels may run at all: in fast mode on CPU
tensors; otherwise the torch paths run, which carry gradients and run on GPU.
"""
from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

#: Time steps per tile: a ``[TILE, lanes]`` block stays in cache.
TILE = 128
#: Padding (floats) after each lane-major ring buffer: a power-of-two row
#: stride would map every lane's read to the same cache set.
RING_PAD = 16


def use_kernel(x: Tensor, grad: bool) -> bool:
    """Whether the compiled CPU kernels may run (fast mode on a CPU tensor)."""
    return not grad and x.device.type == "cpu"


def next_pow2(n: int) -> int:
    """The smallest power of two ``>= n`` (an FFT length)."""
    return 1 << max(int(n) - 1, 0).bit_length()


# --- whole clips -------------------------------------------------------------
def lane_major(t: Tensor) -> Tensor:
    """Same ``[B, C, T]`` values stored time-major (``[T, B, C]`` in memory).

    Elementwise torch ops keep this layout, so per-sample coefficients computed
    from a lane-major parameter reach the kernel without a transposing copy.
    """
    return t.permute(2, 0, 1).contiguous().permute(1, 2, 0)


def to_lanes(t: Tensor, shape) -> np.ndarray:
    """``t`` broadcast to ``shape = [B, C, T']`` as numpy ``[T', B*C]`` (no copy when lane-major)."""
    B, C, T = shape
    # A 2-D transpose: copying with the tiny channel dim innermost is several times slower.
    return t.detach().expand(B, C, T).reshape(B * C, T).t().contiguous().numpy()


def from_lanes(y: np.ndarray, B: int, C: int) -> Tensor:
    """Numpy ``[T, B*C]`` back to a contiguous tensor ``[B, C, T]``."""
    return torch.from_numpy(y).t().contiguous().reshape(B, C, -1)


# --- tiles -------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def load_tile(x, start, length, tile):
    """``tile[i, c * B + b] = x[b, c, start + i]`` for ``i < length``; ``x`` is ``[B, 2, T]``."""
    batch = x.shape[0]
    for c in range(2):
        for b in range(batch):
            row = x[b, c]
            lane = c * batch + b
            for i in range(length):
                tile[i, lane] = row[start + i]


@numba.njit(cache=True, nogil=True)
def store_tile(tile, start, length, y):
    """Inverse of :func:`load_tile`: ``y[b, c, start + i] = tile[i, c * B + b]``."""
    batch = y.shape[0]
    for c in range(2):
        for b in range(batch):
            row = y[b, c]
            lane = c * batch + b
            for i in range(length):
                row[start + i] = tile[i, lane]


def audio_array(x: Tensor) -> np.ndarray:
    """``[B, 2, T]`` tensor -> contiguous float32 numpy array (no copy when already so)."""
    return x.detach().to("cpu", torch.float32).contiguous().numpy()


def lane_values(p: Tensor, dtype: torch.dtype = torch.float32) -> np.ndarray:
    """A per-item parameter ``[B]`` or per-channel ``[B, 2]`` -> ``[2 B]`` of ``dtype`` in lane order."""
    p = p.detach().to("cpu", dtype)
    if p.dim() == 1:
        p = p[:, None].expand(-1, 2)
    return np.ascontiguousarray(p.t().reshape(-1).numpy())
