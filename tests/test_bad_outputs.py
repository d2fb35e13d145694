"""Every command that writes, pointed at a place it cannot write: one line, exit code 2, nothing written.

Three cases: a missing folder (for file outputs; a missing output folder is created), a read-only
folder, and a file where a folder is expected. The checks come before any work, so the inputs are
tiny. As root (who may write anywhere) the read-only case runs with the effective user ``nobody``.
"""
import contextlib
import importlib
import os
import shutil
import stat
import tempfile

import numpy as np
import pytest
import soundfile
import torch
from click.testing import CliRunner

from conftest import EXAMPLE_JSON
from graphfx.cli import main


@pytest.fixture(scope="module")
def inputs():
    """Small inputs in a folder everyone may read (pytest's own temporary folders are private to root)."""
    from graphfx.estimator import BlindEstimator, estimator_config
    from graphfx.presets import PRESETS
    from graphfx.synth.generate import DatasetSpec, generate

    base = tempfile.mkdtemp(prefix="graphfx-bad-outputs-")
    os.chmod(base, 0o755)
    graph = os.path.join(base, "g.json")
    with open(graph, "w") as f:
        f.write(EXAMPLE_JSON.replace('"sample_rate": 44100', '"sample_rate": 16000'))
    wav = os.path.join(base, "dry.wav")
    soundfile.write(wav, 0.1 * np.sin(np.arange(8000) * 0.05), 16000)
    data = os.path.join(base, "data")
    generate(data, DatasetSpec("singing", 2, 1, sample_rate=16000, num_samples=4000, shard_size=2))
    config = estimator_config(PRESETS["smoke"], "singing", "tokengt")
    checkpoint = os.path.join(base, "checkpoint.pt")
    torch.save({"format": "graphfx.checkpoint", "model": BlindEstimator(config).state_dict(),
                "model_config": config.to_dict()}, checkpoint)
    pytest.importorskip("matplotlib.pyplot")
    # What the commands import lazily is imported now: as the user nobody, Python's own library may be out of reach.
    for module in ("graphfx.train", "graphfx.bench", "graphfx.estimate", "graphfx.stats", "graphfx.draw",
                   "rich.progress", "encodings.raw_unicode_escape"):
        importlib.import_module(module)
    yield {"base": base, "graph": graph, "wav": wav, "data": data, "checkpoint": checkpoint}
    for root, dirs, _ in os.walk(base):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    shutil.rmtree(base)


# name: (arguments given the output path, kind of output, file name)
COMMANDS = {
    "render": (lambda i, out: ["render", i["graph"], "-i", i["wav"], "-o", out], "file", "wet.wav"),
    "draw": (lambda i, out: ["draw", i["graph"], "-o", out], "file", "g.png"),
    "estimate": (lambda i, out: ["estimate", i["checkpoint"], i["wav"], "-o", out], "file", "g.json"),
    "estimate --picture": (lambda i, out: ["estimate", i["checkpoint"], i["wav"], "-o",
                                           os.path.join(i["work"], "never.json"), "--picture", out], "file", "g.png"),
    "estimate -o FOLDER": (lambda i, out: ["estimate", i["wav"], "-o", out, "--checkpoint", i["checkpoint"]],
                           "dir", "estimate"),
    "export": (lambda i, out: ["export", i["graph"], "--to", "python", "-o", out], "file", "g.py"),
    "stats --plot": (lambda i, out: ["stats", i["data"], "--plot", out], "file", "stats.png"),
    "generate": (lambda i, out: ["generate", "--task", "singing", "--num", "2", "--sample-rate", "16000",
                                 "--seconds", "0.25", "--out", out], "dir", "data"),
    "train": (lambda i, out: ["train", "--data", i["data"], "--out", out, "--preset", "smoke", "--steps", "1"],
              "dir", "run"),
    "bench": (lambda i, out: ["bench", "--decoder", "tokengt", "--preset", "smoke", "--data", i["data"],
                              "--out", out], "dir", "bench"),
}
CASES = [(name, case) for name, (_, kind, _) in COMMANDS.items()
         for case in (("missing", "read-only", "file") if kind == "file" else ("read-only", "file", "file above"))]


@contextlib.contextmanager
def without_rights():
    """Runs as a user without rights on others' folders: the effective user ``nobody`` when root."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def _tree(base):
    return sorted(os.path.join(root, name) for root, dirs, files in os.walk(base) for name in dirs + files)


@pytest.mark.parametrize("name, case", CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_an_output_that_cannot_be_written_is_one_line_before_any_work(inputs, name, case, tmp_path):
    arguments, kind, file_name = COMMANDS[name]
    work = tempfile.mkdtemp(dir=inputs["base"])
    os.chmod(work, 0o777)  # others' outputs (estimate -o beside --picture) may go here
    if case == "missing":
        out, expected = os.path.join(work, "missing", file_name), "does not exist"
    elif case == "read-only":
        os.mkdir(os.path.join(work, "ro"))
        os.chmod(os.path.join(work, "ro"), stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH
                 | stat.S_IXOTH)
        out, expected = os.path.join(work, "ro", file_name), "not writable"
    else:  # a file where a folder is expected: the output folder itself, or a folder above the output
        afile = os.path.join(work, "afile")
        with open(afile, "w") as f:
            f.write("keep me")
        out, expected = (afile if kind == "dir" and case == "file" else os.path.join(afile, file_name)), "file"
    before = _tree(inputs["base"])
    with without_rights() if case == "read-only" else contextlib.nullcontext():
        result = CliRunner().invoke(main, arguments({**inputs, "work": work}, out))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and expected in lines[0], result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert _tree(inputs["base"]) == before  # nothing written, not even a temporary file
    if case in ("file", "file above"):
        with open(os.path.join(work, "afile")) as f:
            assert f.read() == "keep me"


def test_a_missing_output_folder_is_created_for_folder_outputs(inputs, tmp_path):
    result = CliRunner().invoke(main, ["generate", "--task", "singing", "--num", "1", "--num-val", "0",
                                       "--sample-rate", "16000", "--seconds", "0.1",
                                       "--out", str(tmp_path / "new" / "data")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "data" / "dataset.json").exists()


PICTURES = {
    "draw": lambda i, out: ["draw", i["graph"], "-o", out],
    "estimate --picture": lambda i, out: ["estimate", i["checkpoint"], i["wav"], "-o",
                                          os.path.join(i["work"], "never.json"), "--picture", out],
    "stats --plot": lambda i, out: ["stats", i["data"], "--plot", out],
}


@pytest.mark.parametrize("name", PICTURES)
@pytest.mark.parametrize("file_name, expected", [("g.bmp", "cannot draw .bmp"), ("g", "no file extension")])
def test_a_picture_format_that_cannot_be_drawn_is_one_line_before_any_work(inputs, name, file_name, expected):
    work = tempfile.mkdtemp(dir=inputs["base"])
    before = _tree(inputs["base"])
    result = CliRunner().invoke(main, PICTURES[name]({**inputs, "work": work}, os.path.join(work, file_name)))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and expected in lines[0] and "png" in lines[0], result.output
    assert _tree(inputs["base"]) == before
