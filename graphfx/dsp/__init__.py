"""DSP processors, one module per family (Zölzer, "DAFX", 2011, default designs).

Contract every processor follows (the renderer relies on it):

``fn(inputs, params, *, sample_rate, grad=False) -> dict``

* ``inputs``: inlet name -> audio tensor ``[B, 2, T]`` float32 (audio inlets
  only: ``in``, ``sidechain``, ``mid``, ``side``; an unconnected optional
  inlet is absent from the dict).
* ``params``: parameter name -> float32 tensor in plain units (Hz, dB, ms, ...),
  either ``[B]`` (constant over the clip) or ``[B, 2, T]`` (modulated sample
  by sample through a control inlet; already clipped to the catalog range).
* ``grad``: when ``False`` (the default, "fast mode") an implementation may
  use compiled CPU kernels that carry no gradient; when ``True``, or when the
  tensors live on a CUDA device, it must use torch operations only, so that
  gradients flow to ``inputs`` and ``params`` and the code runs on GPU.
* returns: outlet name -> tensor ``[B, 2, T]``. Control outlets (``lfo``,
  ``env``) are also ``[B, 2, T]``: an ``lfo`` lies in [-1, 1], an ``env`` in [0, 1].

Processors are stateless and deterministic; energy normalization and
modulation routing are the renderer's job, not theirs. Each family module
ends with a ``PROCESSORS`` dict mapping catalog type names to functions.

What several families share lives in modules of its own, not in a family:
:mod:`.biquad` (biquad filtering), :mod:`.lanes` (the lane layout of the
compiled kernels) and :mod:`.echoes` (feedback delay lines in the frequency
domain).
"""
import importlib
import threading
from typing import Callable, Dict

FAMILIES = ("filters", "dynamics", "control", "delay", "modulation", "reverb", "nonlinear", "pitch", "utility")
_registry: Dict[str, Callable] = {}
_loading = threading.Lock()


def get_processor(name: str) -> Callable:
    """The processor function of a catalog type (family modules load on first use).

    The renderer's threads may ask at once: the registry is filled whole, under a lock, so that no
    thread sees it half-filled.
    """
    if not _registry:
        with _loading:
            if not _registry:
                loaded = {}
                for family in FAMILIES:
                    loaded.update(importlib.import_module(f"graphfx.dsp.{family}").PROCESSORS)
                _registry.update(loaded)
    return _registry[name]
