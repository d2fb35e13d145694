import json
import os
import shutil

import numpy as np
import pytest

import graphfx.synth.pairs as pairs_module
from graphfx.catalog import DRUM_SOURCES
from graphfx.datasets import DatasetError, GraphFXDataset
from graphfx.errors import GraphFXError
from graphfx.graph import AudioGraph
from graphfx.synth.generate import DatasetSpec, example_seed, generate, parse_shard, plan

RATE, SAMPLES = 16000, 4000  # 0.25 s clips keep every test fast


def spec(task="singing", num=5, num_val=1, **kwargs):
    return DatasetSpec(task, num, num_val, seed=3, sample_rate=RATE, num_samples=SAMPLES, shard_size=2, **kwargs)


def files(root):
    """{relative path: bytes} of every file below root."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def shard_files(root):
    return {k: v for k, v in files(root).items() if k != "dataset.json"}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One stored dataset per task, made once for the module."""
    base = tmp_path_factory.mktemp("generated")
    return {task: (str(base / task), generate(str(base / task), spec(task))) for task in ("singing", "drums")}


@pytest.mark.parametrize("task", ["singing", "drums"])
def test_generation_writes_valid_shards(made, task):
    root, report = made[task]
    assert (report.written, report.skipped, report.examples) == (5, 0, 7)  # train 3 shards, seen 1, unseen 1
    meta = json.load(open(os.path.join(root, "dataset.json")))
    assert meta["sizes"] == {"train": 5, "seen": 1, "unseen": 1} and meta["mode"] == "stored"
    assert meta["tracks"] == (["in"] if task == "singing" else list(DRUM_SOURCES))
    seeds = set()
    for split, size in meta["sizes"].items():
        shards = sorted(os.listdir(os.path.join(root, split)))
        assert shards == [f"shard-{j:05d}" for j in range((size + 1) // 2)]
        for j, shard in enumerate(shards):
            directory = os.path.join(root, split, shard)
            records = [json.loads(line) for line in open(os.path.join(directory, "graphs.jsonl"))]
            reference = np.load(os.path.join(directory, "reference.npy"), allow_pickle=False)
            dry = np.load(os.path.join(directory, "dry.npy"), allow_pickle=False)
            assert reference.dtype == dry.dtype == np.float32
            assert reference.shape == (len(records), 2, SAMPLES)
            assert dry.shape == (len(records), len(meta["tracks"]), SAMPLES)
            assert np.isfinite(reference).all() and np.abs(reference).max() > 0
            for k, record in enumerate(records):
                assert record["index"] == 2 * j + k
                assert record["seed"] == example_seed(3, split, record["index"])
                graph = AudioGraph.from_dict(record["graph"]).validate()
                assert graph.sample_rate == RATE
                present = [t for t in meta["tracks"] if t in record["tracks"]]
                assert present == record["tracks"]
                for row, track in enumerate(meta["tracks"]):  # absent drum tracks are silent rows
                    if track not in record["tracks"]:
                        assert not dry[k, row].any()
                if task == "drums":
                    assert {n.type for n in graph.nodes if n.type in DRUM_SOURCES} == set(record["tracks"])
                seeds.add(record["seed"])
    assert len(seeds) == 7


def test_two_runs_give_identical_bytes(made, tmp_path):
    root, _ = made["singing"]
    generate(str(tmp_path / "again"), spec("singing"))
    assert files(tmp_path / "again") == files(root)


def test_shard_split_union_equals_single_run(made, tmp_path):
    root, _ = made["drums"]
    a = generate(str(tmp_path / "a"), spec("drums"), shard=(0, 2))
    b = generate(str(tmp_path / "b"), spec("drums"), shard=(1, 2))
    assert (a.shards, b.shards) == (3, 2)
    part_a, part_b = shard_files(tmp_path / "a"), shard_files(tmp_path / "b")
    assert not set(part_a) & set(part_b)
    assert {**part_a, **part_b} == shard_files(root)
    jobs = plan({"train": 5, "seen": 1, "unseen": 1}, 2)
    assert [(j.split, j.index) for j in jobs if j.number % 2 == 1] == [("train", 1), ("seen", 0)]


def test_workers_give_the_same_bytes(tmp_path):
    one = generate(str(tmp_path / "one"), spec("singing", num=4, num_val=0))
    seen = []
    two = generate(str(tmp_path / "two"), spec("singing", num=4, num_val=0), workers=2,
                   progress=lambda done, total: seen.append((done, total)))
    assert one.written == two.written == 2 and two.examples == 4
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert files(tmp_path / "one") == files(tmp_path / "two")


def test_resume_after_kill_regenerates_only_the_missing_shard(made, tmp_path):
    root, _ = made["singing"]
    copy = str(tmp_path / "copy")
    shutil.copytree(root, copy)
    shutil.rmtree(os.path.join(copy, "train", "shard-00001"))
    stale = os.path.join(copy, "train", ".tmp-shard-00001-999-deadbeef")  # a killed writer's leftovers
    os.makedirs(stale)
    open(os.path.join(stale, "reference.npy"), "wb").write(b"partial")
    kept = os.stat(os.path.join(copy, "train", "shard-00000", "reference.npy")).st_mtime_ns
    report = generate(copy, spec("singing"))
    assert (report.written, report.skipped, report.examples) == (1, 4, 2)
    assert not os.path.exists(stale)
    assert os.stat(os.path.join(copy, "train", "shard-00000", "reference.npy")).st_mtime_ns == kept
    assert files(copy) == files(root)


def test_a_failing_run_leaves_no_partial_shard(tmp_path, monkeypatch):
    calls = []
    real = pairs_module.make_pairs

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if killed in the middle of the second shard
        return real(*args, **kwargs)

    monkeypatch.setattr(pairs_module, "make_pairs", flaky)
    out = tmp_path / "d"
    with pytest.raises(KeyboardInterrupt):
        generate(str(out), spec("singing", num=4, num_val=0), batch_size=1)
    assert sorted(os.listdir(out / "train")) == []  # the first shard was half done: nothing kept
    with pytest.raises(DatasetError, match="incomplete"):
        GraphFXDataset(str(out))
    report = generate(str(out), spec("singing", num=4, num_val=0), batch_size=1)
    assert report.written == 2 and len(GraphFXDataset(str(out))) == 4


def test_batch_size_does_not_change_the_bytes(made, tmp_path):
    root, _ = made["singing"]
    generate(str(tmp_path / "b1"), spec("singing"), batch_size=1)
    assert files(tmp_path / "b1") == files(root)


def test_lazy_mode_gives_the_same_graphs_and_audio(made, tmp_path):
    root, _ = made["drums"]
    lazy = str(tmp_path / "lazy")
    generate(lazy, spec("drums", lazy=True))
    assert json.load(open(os.path.join(lazy, "dataset.json")))["mode"] == "lazy"
    for split, shard in (("train", "shard-00002"), ("unseen", "shard-00000")):
        assert os.listdir(os.path.join(lazy, split, shard)) == ["graphs.jsonl"]
        stored_lines = open(os.path.join(root, split, shard, "graphs.jsonl")).read()
        assert open(os.path.join(lazy, split, shard, "graphs.jsonl")).read() == stored_lines
    for split in ("train", "unseen"):
        stored, rendered = GraphFXDataset(root, split), GraphFXDataset(lazy, split)
        for i in range(len(stored)):
            g1, ref1, dry1 = stored.example(i)
            g2, ref2, dry2 = rendered.example(i)
            assert g1 == g2
            np.testing.assert_allclose(ref2, ref1, atol=1e-6)
            np.testing.assert_allclose(dry2, dry1, atol=1e-6)


def test_existing_directory_with_another_dataset_is_refused(made, tmp_path):
    root, _ = made["singing"]
    with pytest.raises(DatasetError, match="sizes.train"):
        generate(root, spec("singing", num=6))
    with pytest.raises(DatasetError, match="task"):
        generate(root, spec("drums"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        generate(str(tmp_path / "junk"), spec())


def test_arguments_are_checked():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("3/2", "x", "1/0", "-1/2", "1/2/3"):
        with pytest.raises(GraphFXError, match="--shard"):
            parse_shard(bad)
    with pytest.raises(GraphFXError, match="--num"):
        spec(num=0)
    with pytest.raises(GraphFXError, match="--task"):
        DatasetSpec("speech", 3)
    assert DatasetSpec("singing", 25).num_val == 8 and DatasetSpec("singing", 5).num_val == 5
    assert DatasetSpec("singing", 5).num_samples == 160000  # the paper's clips at 44.1 kHz


def test_example_seeds_are_stable_and_distinct():
    assert example_seed(0, "train", 0) == example_seed(0, "train", 0)
    seeds = {example_seed(s, split, i) for s in range(3) for split in ("train", "seen", "unseen") for i in range(50)}
    assert len(seeds) == 450 and all(0 <= s < 2**63 for s in seeds)


def test_generate_cli(tmp_path):
    from click.testing import CliRunner

    from graphfx.cli import main

    run = lambda *args: CliRunner().invoke(main, ["generate", *args])  # noqa: E731
    out = str(tmp_path / "cli")
    args = ["--task", "singing", "--num", "2", "--num-val", "0", "--out", out, "--sample-rate", "16000",
            "--seconds", "0.25", "--shard-size", "2"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "wrote 1 shard(s), 2 examples" in result.output
    assert json.load(open(os.path.join(out, "dataset.json")))["num_samples"] == SAMPLES
    assert "1 of 1 shard(s) were already complete" in run(*args).output
    (tmp_path / "sources").mkdir()
    for bad, fragment in [(["--shard", "3/2"], "--shard"), (["--shard", "two"], "--shard"),
                          (["--num", "3"], "different dataset"), (["--task", "speech"], "--task"),
                          (["--sources", str(tmp_path / "missing")], "does not exist"),
                          (["--sources", str(tmp_path / "sources")], "no audio files"),
                          (["--workers", "0"], "--workers"), (["--seconds", "-1"], "--seconds"),
                          (["--config", str(tmp_path / "nope.json")], "cannot read prototype config")]:
        result = run(*args, *bad)
        assert result.exit_code == 2, (bad, result.output)
        assert result.output.strip().count("\n") == 0 and fragment in result.output, (bad, result.output)
    # A dataset begun by older synthesis rules is not resumed with the new ones.
    meta_path = os.path.join(out, "dataset.json")
    meta = json.load(open(meta_path))
    meta["synthesis"] -= 1
    json.dump(meta, open(meta_path, "w"))
    result = run(*args)
    assert result.exit_code == 2 and "different dataset (synthesis is" in result.output, result.output


def test_npy_writer_writes_a_whole_array_or_refuses(tmp_path):
    from graphfx.synth.generate import _NpyWriter

    path = str(tmp_path / "a.npy")
    writer = _NpyWriter(path, (2, 3, 4))
    items = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    for item in items:
        writer.append(item)
    with pytest.raises(ValueError):
        writer.append(items[0])  # one too many
    writer.close()
    loaded = np.load(path, mmap_mode="r", allow_pickle=False)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, items)
    short = _NpyWriter(str(tmp_path / "b.npy"), (2, 3, 4))
    short.append(items[0])
    with pytest.raises(ValueError):
        short.close()  # a missing item
    wrong = _NpyWriter(str(tmp_path / "c.npy"), (2, 3, 4))
    with pytest.raises(ValueError):
        wrong.append(np.zeros((3, 5)))
    short.file.close()
    wrong.file.close()


def test_batch_size_does_not_change_drum_data(tmp_path):
    # Drum clips mix mono and stereo tracks, so a batch runs some groups of nodes in stereo that a lone
    # example runs in mono; the data must not depend on that (a lazy dataset re-synthesizes one by one).
    drums = DatasetSpec("drums", 8, 0, seed=3, sample_rate=RATE, num_samples=SAMPLES, shard_size=8)
    generate(str(tmp_path / "b8"), drums, batch_size=8)
    generate(str(tmp_path / "b1"), drums, batch_size=1)
    assert files(tmp_path / "b8") == files(tmp_path / "b1")


def test_validation_splits_have_a_useful_size_or_a_warning():
    from graphfx.synth.generate import MIN_VALIDATION, validation_warning

    assert DatasetSpec("singing", 16).num_val == MIN_VALIDATION == 8  # not 1 (16 // 10)
    assert DatasetSpec("singing", 300).num_val == 30 and DatasetSpec("singing", 3).num_val == 3
    assert validation_warning(DatasetSpec("singing", 16)) is None
    assert "1 example(s)" in validation_warning(DatasetSpec("singing", 16, 1))
    assert validation_warning(DatasetSpec("singing", 16, 0)) is None  # no validation at all: asked for


def test_dataset_files_get_the_mode_of_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        generate(str(tmp_path / "d"), spec("singing", num=2, num_val=0))
    finally:
        os.umask(old)
    for dirpath, dirnames, names in os.walk(tmp_path / "d"):
        assert not [n for n in dirnames + names if n.startswith(".")]  # no temporary left
        for name in names:
            assert os.stat(os.path.join(dirpath, name)).st_mode & 0o777 == 0o640, name
