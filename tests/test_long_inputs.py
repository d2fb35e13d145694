"""An hour of audio under a 2.5 GB address-space limit (``ulimit -v``): ``estimate`` analyses it in
windows and completes; ``render``, which needs the whole clip at once, refuses it in one line up front."""
import os
import resource
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from conftest import EXAMPLE_JSON
from graphfx.synth.generate import THREAD_ENV

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")

LIMIT = 2500 * 2**20
HOUR = 3600


@pytest.fixture(scope="module")
def long_files(tmp_path_factory):
    from graphfx.estimator import BlindEstimator, estimator_config
    from graphfx.presets import PRESETS

    base = tmp_path_factory.mktemp("long")
    wav = base / "hour.wav"
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(str(wav), "w", 8000, 1, subtype="PCM_16") as f:  # 58 MB, written in minutes of audio
        for _ in range(HOUR // 60):
            f.write((0.1 * rng.standard_normal(60 * 8000)).astype(np.float32))
    config = estimator_config(PRESETS["smoke"], "singing", "tokengt")
    torch.manual_seed(0)
    checkpoint = base / "checkpoint.pt"
    torch.save({"format": "graphfx.checkpoint", "model": BlindEstimator(config).state_dict(),
                "model_config": config.to_dict()}, str(checkpoint))
    graph = base / "g.json"
    graph.write_text(EXAMPLE_JSON.replace('"sample_rate": 44100', '"sample_rate": 16000'))
    return {"wav": str(wav), "checkpoint": str(checkpoint), "graph": str(graph), "base": base}


def _limited(*args):
    """``graphfx ARGS`` in a process limited to :data:`LIMIT` bytes of address space, one thread per pool."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

    env = {**os.environ, **THREAD_ENV, "MALLOC_ARENA_MAX": "2"}
    return subprocess.run([sys.executable, "-m", "graphfx.cli", *args], capture_output=True, text=True, env=env,
                          preexec_fn=limit, timeout=600)


def test_estimate_analyses_an_hour_in_windows_under_a_memory_limit(long_files):
    out = long_files["base"] / "estimate.json"
    result = _limited("estimate", long_files["checkpoint"], long_files["wav"], "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "analysed 64 windows of 3.63 s of the 3600.0 s recording" in result.stdout
    assert out.exists() and "Traceback" not in result.stderr


def test_render_refuses_an_hour_in_one_line_under_a_memory_limit(long_files):
    out = long_files["base"] / "wet.wav"
    before = sorted(os.listdir(long_files["base"]))
    result = _limited("render", long_files["graph"], "-i", long_files["wav"], "-o", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "rendering 3600 s of audio needs about" in lines[0], result.stderr
    assert sorted(os.listdir(long_files["base"])) == before  # no output, no temporary file
