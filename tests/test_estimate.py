"""graphfx.estimate: analysis windows, hypothesis search, refinement, the report and the command."""
import json
import subprocess
import sys

import pytest
import torch

import graphfx
from conftest import chain
from graphfx.errors import AudioError, GraphFXError
import graphfx.estimate as estimate_module
from graphfx.estimate import Candidate, loudest_start, refine, search, window_starts

RATE = 16000
pytestmark = pytest.mark.usefixtures("one_thread")


def test_windows_cover_a_recording_and_end_with_it():
    assert window_starts(100, 100) == [0]  # one window: the whole recording
    assert window_starts(50, 100) == [0]
    assert window_starts(250, 100) == [0, 100, 150]  # the last one ends with the recording
    starts = window_starts(10_000, 100, most=5)  # too many: five spread evenly from start to end
    assert starts == [0, 2475, 4950, 7425, 9900]


# --- graphfx.estimate: search, refinement, report ------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    """An untrained estimator at the smoke preset (16 kHz)."""
    from graphfx.estimator import BlindEstimator, estimator_config
    from graphfx.presets import PRESETS

    torch.manual_seed(0)
    return BlindEstimator(estimator_config(PRESETS["smoke"], "singing", "tokengt")).eval()


def _known(seconds=1.0, seed=0):
    """A known graph (bell then lowpass), its dry noise ``[1, T]`` and its rendering ``[2, T]`` at 16 kHz."""
    graph = chain(["bell", "lowpass"], sample_rate=RATE)
    graph.node("n0").params.update(frequency=1200.0, q=2.0, gain=9.0)
    graph.node("n1").params.update(frequency=3000.0, q=0.7)
    dry = 0.1 * torch.randn(1, int(seconds * RATE), generator=torch.Generator().manual_seed(seed))
    return graph, dry, graphfx.render(graph, dry[None], sample_rate=RATE)[0]


def test_search_gives_valid_distinct_candidates_scored_by_the_model(model):
    shape = model.latents(torch.randn(1, 2, RATE)).shape
    latents = 3 * torch.randn(shape, generator=torch.Generator().manual_seed(0))  # varied decodings
    found = search(model, latents, 6, seed=1, temperature=1.0)
    assert found[0].source == "greedy" and 1 <= len(found) <= 6
    assert len({c.graph.to_json() for c in found}) == len(found) and sum(c.votes for c in found) == 6
    assert all(c.graph.is_valid() and c.log_likelihood < 0 and 0 < c.consensus <= 1 for c in found)
    again = search(model, latents, 6, seed=1, temperature=1.0)
    assert [c.graph.to_json() for c in again] == [c.graph.to_json() for c in found]  # seeded


def test_consensus_is_the_vote_weighted_mean_iou_and_ranks_first():
    from graphfx.estimate import rank_key
    from graphfx.metrics import node_type_iou

    a, b = Candidate(chain(["bell"]), "greedy", -2.0, votes=1), Candidate(chain(["bell", "lowpass"]), "sample 1", -3.0,
                                                                             votes=3)
    for c in (a, b):  # as search computes it
        c.consensus = sum(d.votes * node_type_iou(d.graph, c.graph) for d in (a, b)) / 4
    assert a.consensus == pytest.approx((1 + 3 * 3 / 4) / 4) and b.consensus == pytest.approx((3 / 4 + 3) / 4)
    assert sorted([a, b], key=rank_key) == [b, a]  # the agreed structure beats the likelier one
    b.consensus = a.consensus
    assert sorted([b, a], key=rank_key) == [a, b]  # equal consensus: the likelier first


def test_refinement_lowers_the_loss_of_perturbed_parameters():
    truth, dry, wet = _known()
    guess = truth.copy()
    guess.node("n0").params.update(frequency=400.0, gain=0.0)
    guess.node("n1").params.update(frequency=6000.0)
    steps = []
    refined, report = refine(guess, dry[None], wet[None], RATE, steps=40, lr=0.1, pull=0.0,
                             progress=lambda step, total, loss: steps.append((step, total)))
    assert steps[-1] == (40, 40) and len(report["curve"]) == 40
    assert report["after"] < 0.7 * report["before"]
    assert refined.is_valid() and [n.type for n in refined.nodes] == [n.type for n in truth.nodes]
    assert abs(refined.node("n0").params["gain"] - 9.0) < abs(0.0 - 9.0)


def test_refinement_of_several_starts_keeps_the_best():
    truth, dry, wet = _known()
    near, far = truth.copy(), truth.copy()
    near.node("n0").params.update(gain=7.0)
    far.node("n0").params.update(frequency=300.0, gain=-9.0)
    far.node("n1").params.update(frequency=200.0)
    refined, report = refine([far, near], dry[None], wet[None], RATE, steps=5, lr=0.05)
    assert report["chosen"] == 1 and len(report["starts"]) == 2
    assert report["after"] == report["starts"][1]["after"] <= report["starts"][1]["before"]
    assert report["before"] == report["starts"][0]["before"] > report["starts"][1]["before"]


def test_sampling_at_a_low_temperature_is_the_greedy_decoding(model):
    shape = model.latents(torch.randn(1, 2, RATE)).shape
    latents = 3 * torch.randn(shape, generator=torch.Generator().manual_seed(0))
    greedy = model.decoder.generate(latents, sample_rate=RATE)[0].to_json()
    cold = model.decoder.generate(latents.expand(4, -1, -1), sample_rate=RATE, temperature=1e-6,
                                  generator=torch.Generator().manual_seed(0))
    hot = model.decoder.generate(latents.expand(8, -1, -1), sample_rate=RATE, temperature=1.0,
                                 generator=torch.Generator().manual_seed(0))
    assert all(g.to_json() == greedy for g in cold) and any(g.to_json() != greedy for g in hot)


def test_estimate_with_dry_ranks_refines_and_writes_the_folder(model, tmp_path):
    _, dry, wet = _known(seconds=3.0)
    ticks = []
    graph, report = graphfx.estimate(wet, RATE, dry, checkpoint=model, candidates=3, refine=3, clip_seconds=1.0,
                                     progress=lambda *a: ticks.append(a), out=str(tmp_path / "out"))
    assert graph.is_valid() and len(ticks) == 3
    assert report["candidates"]["ranked_by"].startswith("consensus") and report["input"]["clip"]["seconds"] == 1.0
    stages = report["stages"]
    assert stages["refine"]["after"] <= stages["refine"]["before"] == stages["search"]["mss"]
    # every start screened for one step, then at most REFINED of them refined for the other two
    screened = stages["refine"]["screened"]
    assert screened["steps"] == 1 and screened["starts"][0] == stages["search"]["chosen"]
    assert len(screened["after"]) == len(screened["starts"]) == report["candidates"]["distinct"]
    assert stages["refine"]["chosen"] in screened["starts"] and len(stages["refine"]["curve"]) == 3
    assert len(stages["refine"]["starts"]) == min(estimate_module.REFINED, len(screened["starts"]))
    top = report["candidates"]["top"]
    assert all(c["mss"] is not None for c in top) and top[0]["mss"] == stages["search"]["mss"]
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["estimate.wav", "graph.json", "graph.png", "reference.wav", "report.json"]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["files"][-1] == "report.json"
    assert graphfx.load(str(tmp_path / "out" / "graph.json")) == graph


def test_estimate_without_dry_ranks_by_consensus_and_resamples(model):
    _, _, wet = _known()
    from graphfx.audio import resample

    graph, report = graphfx.estimate(resample(wet, RATE, 22050)[:1], 22050, checkpoint=model, candidates=4)
    assert graph.is_valid() and graph.sample_rate == RATE
    assert report["stages"]["refine"]["skipped"] and report["input"]["channels"] == 1
    scores = [c["consensus"] for c in report["candidates"]["top"]]
    assert scores == sorted(scores, reverse=True) and all(c["mss"] is None for c in report["candidates"]["top"])


def test_long_recordings_are_encoded_in_active_windows(model):
    _, _, wet = _known(seconds=9.0)
    wet[:, :4 * RATE] = 0  # the first four seconds are silent
    _, report = graphfx.estimate(wet, RATE, checkpoint=model, candidates=1)
    windows, width = report["input"]["windows"], report["input"]["window_seconds"]
    assert width == pytest.approx(160000 / 44100, abs=1e-3) and windows and min(windows) > 4 - width


@pytest.mark.parametrize("audio, fragment", [
    (torch.zeros(1, RATE), "silent"),
    (torch.full((1, RATE), float("nan")), "NaN"),
    (torch.randn(3, RATE), "1 or 2 channels"),
])
def test_bad_audio_is_a_clear_error(model, audio, fragment):
    with pytest.raises(AudioError, match=fragment):
        graphfx.estimate(audio, RATE, checkpoint=model)


def test_dry_of_another_length_and_wrong_task_are_errors(model):
    _, dry, wet = _known()
    with pytest.raises(AudioError, match="same clip"):
        graphfx.estimate(wet, RATE, dry[:, :RATE // 2], checkpoint=model)
    with pytest.raises(GraphFXError, match="drum"):
        graphfx.estimate(wet, RATE, dry, checkpoint=model, task="drums")


def test_loudest_start():
    x = torch.zeros(1, 1000)
    x[0, 600:700] = 1
    assert 500 <= loudest_start(x, 200) <= 600 and loudest_start(x, 2000) == 0


def test_candidate_report():
    c = Candidate(chain(["bell"]), "greedy", -1.234567891)
    assert c.to_dict() == {"source": "greedy", "votes": 1, "consensus": None, "log_likelihood": -1.23457, "mss": None,
                           "nodes": ["bell"], "edges": 2}


def test_estimate_is_the_api_and_the_module_is_callable():
    code = ("import graphfx, graphfx.estimate as m, inspect; f = graphfx.estimate; "
            "print(callable(f), callable(m), inspect.signature(m.estimate).parameters['refine'].default)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["True", "True", "150"], result.stderr


# --- the command -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory, model):
    """A checkpoint of the untrained model, a known graph's wet and dry files (16 kHz, 1.5 s)."""
    import soundfile as sf

    base = tmp_path_factory.mktemp("cli")
    checkpoint = base / "model.pt"
    torch.save({"format": "graphfx.checkpoint", "version": 2, "model": model.state_dict(),
                "model_config": model.config.to_dict()}, str(checkpoint))
    _, dry, wet = _known(seconds=1.5)
    sf.write(str(base / "wet.wav"), wet.T.numpy(), RATE)
    sf.write(str(base / "dry.wav"), dry.T.numpy(), RATE)
    sf.write(str(base / "silent.wav"), torch.zeros(RATE, 1).numpy(), RATE)
    data = (base / "wet.wav").read_bytes()
    (base / "truncated.wav").write_bytes(data[:len(data) // 2])
    return {"checkpoint": str(checkpoint), "wet": str(base / "wet.wav"), "dry": str(base / "dry.wav"),
            "silent": str(base / "silent.wav"), "truncated": str(base / "truncated.wav")}


def _cli(*args):
    from click.testing import CliRunner

    from graphfx.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_command_with_dry_writes_the_folder(files, tmp_path):
    out = tmp_path / "out"
    result = _cli("estimate", files["wet"], "-o", out, "--dry", files["dry"], "--checkpoint", files["checkpoint"],
                  "--candidates", 3, "--refine", 2)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["estimate.wav", "graph.json", "graph.png", "reference.wav",
                                                     "report.json"]
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["checkpoint"] == files["checkpoint"] and report["stages"]["refine"]["steps"] == 2
    assert "MSS: greedy" in result.output and "wrote" in result.output


def test_command_without_dry_and_the_old_form(files, tmp_path):
    result = _cli("estimate", files["wet"], "-o", tmp_path / "out", "--checkpoint", files["checkpoint"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["graph.json", "graph.png", "report.json"]
    result = _cli("estimate", files["checkpoint"], files["wet"], "-o", tmp_path / "g.json")
    assert result.exit_code == 0, result.output
    assert graphfx.load(str(tmp_path / "g.json")).is_valid()


def test_command_errors_are_one_line(files, tmp_path, monkeypatch):
    import graphfx.pretrained

    monkeypatch.setitem(graphfx.pretrained.MODELS, "singing", "no_such_model.pt")
    (tmp_path / "file").write_text("")
    cases = [
        ([files["silent"], "-o", tmp_path / "o1", "--checkpoint", files["checkpoint"]], "silent"),
        ([files["truncated"], "-o", tmp_path / "o2", "--checkpoint", files["checkpoint"]], "truncated"),
        ([files["wet"], "-o", tmp_path / "o3"], "shipped singing model is missing"),
        ([files["wet"], "-o", tmp_path / "file", "--checkpoint", files["checkpoint"]], "not a folder"),
        ([files["wet"], "-o", tmp_path / "o4", "--picture", tmp_path / "p.png"], "old form"),
        ([files["wet"], files["wet"], "-o", tmp_path / "o5"], ".pt checkpoint first"),
        ([files["checkpoint"], files["wet"], "-o", tmp_path / "g.json", "--refine", 3], "new form"),
    ]
    for args, fragment in cases:
        result = _cli("estimate", *args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and fragment in lines[0], (args, result.output)
    assert not (tmp_path / "o1").exists() or not any((tmp_path / "o1").iterdir())
