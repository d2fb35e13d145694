import math

import pytest
import torch

from graphfx import catalog

PAPER_TYPES = ("lowpass bandpass highpass bandreject lowpass4 bandpass4 highpass4 lowshelf highshelf bell "
               "crossover phaser chorus flanger vibrato delay pingpong_delay reverb stereo_reverb distortion "
               "bitcrush compressor noisegate expander pitchshift mix pan imager ms_split ms_merge lfo "
               "stereo_lfo envelope").split()

# Table 1 of the paper: inlets -> outlets; parameters.
TABLE_1 = {
    "lowpass": (["in", "frequency"], ["out"], ["frequency", "q"]),
    "lowshelf": (["in", "frequency", "gain"], ["out"], ["frequency", "q", "gain"]),
    "bell": (["in", "frequency", "gain"], ["out"], ["frequency", "q", "gain"]),
    "crossover": (["in", "frequency"], ["low", "high"], ["frequency"]),
    "phaser": (["in", "mod"], ["out"], ["frequency", "feedback", "mix"]),
    "chorus": (["in", "mod"], ["out"], ["delay", "feedback", "mix"]),
    "delay": (["in"], ["out"], ["delay", "feedback", "mix", "frequency", "q", "stereo_offset"]),
    "pingpong_delay": (["in"], ["out"], ["delay", "feedback", "mix", "frequency", "q", "stereo_offset"]),
    "stereo_reverb": (["in"], ["out"], ["size", "damping", "width", "mix"]),
    "distortion": (["in"], ["out"], ["gain", "hardness", "asymmetry"]),
    "bitcrush": (["in"], ["out"], ["bit"]),
    "compressor": (["in", "sidechain"], ["out"], ["threshold", "ratio", "attack", "release", "knee"]),
    "pitchshift": (["in"], ["out"], ["semitone"]),
    "mix": (["in"], ["out"], []),
    "pan": (["in", "pan"], ["out"], ["pan"]),
    "imager": (["in"], ["out"], ["width"]),
    "ms_split": (["in"], ["mid", "side"], []),
    "ms_merge": (["mid", "side"], ["out"], []),
    "stereo_lfo": ([], ["lfo"], ["frequency", "phase", "stereo_offset"]),
    "envelope": (["in"], ["env"], ["attack", "release", "gain"]),
}


def test_all_33_processors_and_terminals():
    assert list(catalog.PROCESSORS) == PAPER_TYPES
    assert len(catalog.PROCESSORS) == 33
    for t in ("in", "out") + catalog.DRUM_SOURCES:
        assert catalog.SPECS[t].terminal
    assert len(catalog.NODE_TYPES) == 33 + 2 + 6


@pytest.mark.parametrize("name", list(TABLE_1))
def test_ports_and_params_follow_table_1(name):
    inlets, outlets, params = TABLE_1[name]
    spec = catalog.get(name)
    assert list(spec.inlets) == inlets
    assert list(spec.outlets) == outlets
    assert list(spec.param_names) == params


@pytest.mark.parametrize("name", catalog.NODE_TYPES)
def test_every_entry_is_consistent(name):
    spec = catalog.get(name)
    assert set(spec.inlets) <= set(catalog.INLETS) and set(spec.outlets) <= set(catalog.OUTLETS)
    assert len(spec.params) <= catalog.MAX_PARAMS
    assert set(spec.required) <= set(spec.inlets)
    for p in spec.params:
        assert p.min < p.max and p.min <= p.default <= p.max
        assert p.unit in ("Hz", "dB", "ms", "", "cycles", "bits", "st")
        for value in (p.min, p.default, p.max):
            u = p.normalize(value)
            assert 0.0 - 1e-12 <= u <= 1.0 + 1e-12
            assert math.isclose(p.denormalize(u), value, rel_tol=1e-9, abs_tol=1e-9)
    assert catalog.to_dict(name)[name]["params"] == [
        {"name": p.name, "unit": p.unit, "min": p.min, "max": p.max, "default": p.default, "scale": p.scale}
        for p in spec.params]


def test_units_of_named_parameters():
    for spec in catalog.SPECS.values():
        for p in spec.params:
            if p.name == "frequency":
                assert p.unit == "Hz" and p.scale == "log"
            if p.name in ("threshold", "knee"):
                assert p.unit == "dB"
            if p.name in ("attack", "release", "delay"):
                assert p.unit == "ms"


def test_normalize_works_on_tensors_and_log_scale_is_geometric():
    p = catalog.get("lowpass").param("frequency")
    t = torch.tensor([20.0, 632.455532, 20000.0], dtype=torch.float64)
    assert torch.allclose(p.normalize(t), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), atol=1e-7)
    assert torch.allclose(p.denormalize(p.normalize(t)), t)


def test_bad_param_definitions_raise():
    with pytest.raises(ValueError):
        catalog.Param("x", "", 1.0, 0.0, 0.5)
    with pytest.raises(ValueError):
        catalog.Param("x", "", 0.0, 1.0, 0.5, "log")
    with pytest.raises(ValueError):
        catalog.Param("x", "", 0.0, 1.0, 0.5, "cubic")


def test_unknown_type_error_names_it():
    with pytest.raises(KeyError, match="warp_drive"):
        catalog.get("warp_drive")


def test_port_kinds():
    assert catalog.CONTROL_OUTLETS == {"lfo", "env"}
    assert catalog.CONTROL_INLETS == {"frequency", "gain", "mod", "pan"}


# What the renderer knows of each processor, as it listed it before these were spec fields.
CHANNELWISE = {"lowpass", "bandpass", "highpass", "bandreject", "lowpass4", "bandpass4", "highpass4", "lowshelf",
               "highshelf", "bell", "crossover", "phaser", "distortion", "bitcrush", "compressor", "noisegate",
               "expander", "pitchshift", "envelope"}
MOD_TARGETS = {"phaser": "frequency", "chorus": "delay", "flanger": "delay", "vibrato": "delay"}


def test_channelwise_types_are_exactly_the_flagged_ones():
    assert {n for n, s in catalog.SPECS.items() if s.channelwise} == CHANNELWISE


def test_control_inlets_drive_their_parameters():
    assert {n: s.mod_target for n, s in catalog.SPECS.items() if s.mod_target} == MOD_TARGETS
    for name, spec in catalog.SPECS.items():
        for inlet in catalog.CONTROL_INLETS.intersection(spec.inlets):
            want = MOD_TARGETS[name] if inlet == "mod" else inlet  # frequency, gain, pan: their namesake
            assert spec.modulated_param(inlet) == want and spec.has_param(want), (name, inlet)


def test_generators_and_energy_normalization():
    generators = [n for n, s in catalog.SPECS.items() if s.generator]
    assert generators == ["lfo", "stereo_lfo"]
    assert all(not catalog.get(n).inlets for n in generators)
    terminals = {n for n, s in catalog.SPECS.items() if s.terminal}
    assert {n for n, s in catalog.SPECS.items() if not s.energy_normalized} == {"mix"} | terminals
    assert catalog.SIGNAL_INLETS == ("in", "mid", "side")


def test_facts_in_json():
    phaser = catalog.to_dict("phaser")["phaser"]
    assert phaser["channelwise"] and not phaser["generator"] and phaser["energy_normalized"]
    assert phaser["modulates"] == {"mod": "frequency"}
    assert catalog.to_dict("bell")["bell"]["modulates"] == {"frequency": "frequency", "gain": "gain"}
    assert catalog.to_dict("lfo")["lfo"]["generator"]
