"""The processor catalog: every node type an audio processing graph may hold.

The 33 processors follow Table 1 of "Blind Estimation of Audio Processing
Graph" (Lee et al., ICASSP 2023) <https://arxiv.org/abs/2303.08257>: each has
named inlets (audio or control), named outlets and continuous parameters.
Besides the processors there are graph terminals: ``in`` (the dry input),
``out`` (the rendered output) and the drum-source inputs ``kick`` ...
``crash`` that replace ``in`` in drum-mixing graphs.

Parameters are kept in their units (Hz, dB, ms, ...) in JSON and on screen and
normalized to [0, 1] in tensors; :class:`Param` converts between the two, on a
linear or a logarithmic scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

# Port vocabularies (Table 1). The order is the index used in tensors.
INLETS: Tuple[str, ...] = ("in", "frequency", "gain", "mod", "sidechain", "pan", "mid", "side")
OUTLETS: Tuple[str, ...] = ("out", "low", "high", "mid", "side", "lfo", "env")
#: Inlets that take a control signal (an ``lfo`` or ``env`` outlet) rather than audio.
CONTROL_INLETS = frozenset({"frequency", "gain", "mod", "pan"})
#: Outlets that emit a control signal rather than audio.
CONTROL_OUTLETS = frozenset({"lfo", "env"})
#: Inlets that carry the signal a processor transforms (a ``sidechain`` only steers it): energy
#: normalization matches the outputs' energy to theirs.
SIGNAL_INLETS: Tuple[str, ...] = ("in", "mid", "side")

#: Source tracks of the drum-mixing task, in the paper's order.
DRUM_SOURCES: Tuple[str, ...] = ("kick", "snare", "hat", "tom", "ride", "crash")
#: Values of a node's optional ``track`` field: a drum source or the mixing bus.
TRACKS: Tuple[str, ...] = DRUM_SOURCES + ("bus",)


@dataclass(frozen=True)
class Param:
    """A continuous processor parameter.

    Args:
        name: parameter name, one of Table 1's (``frequency``, ``q``, ...).
        unit: unit of the plain value (``Hz``, ``dB``, ``ms``, ``cycles``, ...).
        min: smallest allowed value.
        max: largest allowed value.
        default: value used when a graph file omits the parameter.
        scale: ``"linear"`` or ``"log"``; how the value maps to [0, 1].
    """

    name: str
    unit: str
    min: float
    max: float
    default: float
    scale: str = "linear"

    def __post_init__(self):
        if self.scale not in ("linear", "log"):
            raise ValueError(f"scale must be 'linear' or 'log', got {self.scale!r}")
        if not self.min < self.max or not self.min <= self.default <= self.max:
            raise ValueError(f"bad range for parameter {self.name!r}")
        if self.scale == "log" and self.min <= 0:
            raise ValueError(f"log-scaled parameter {self.name!r} needs a positive minimum")

    def normalize(self, value):
        """Maps a plain value (float or tensor) to [0, 1]."""
        if self.scale == "log":
            lo, hi = math.log(self.min), math.log(self.max)
            return (_log(value) - lo) / (hi - lo)
        return (value - self.min) / (self.max - self.min)

    def denormalize(self, unit_value):
        """Maps a value in [0, 1] (float or tensor) back to plain units."""
        lo, span = self.unit_span()
        value = lo + unit_value * span
        return _exp(value) if self.scale == "log" else value

    def unit_span(self) -> Tuple[float, float]:
        """``(lo, span)`` of the affine map ``lo + u * span`` that :meth:`denormalize` applies to ``u``
        (followed by ``exp`` on a log scale); the renderer's compiled modulation uses the same."""
        if self.scale == "log":
            lo, hi = math.log(self.min), math.log(self.max)
            return lo, hi - lo
        return self.min, self.max - self.min

    def contains(self, value: float) -> bool:
        # A relative slack absorbs float round-off from normalize/denormalize.
        eps = 1e-9 * (self.max - self.min)
        return self.min - eps <= value <= self.max + eps


def _log(x):
    return x.log() if hasattr(x, "log") else math.log(x)


def _exp(x):
    return x.exp() if hasattr(x, "exp") else math.exp(x)


@dataclass(frozen=True)
class ProcessorSpec:
    """A node type: its ports, parameters and properties.

    Args:
        name: type name used in graph files.
        family: processor family of Table 1 (``filter``, ``eq``, ``modulation``, ...).
        description: one line for humans.
        inlets: inlet names, in :data:`INLETS` order.
        outlets: outlet names, in :data:`OUTLETS` order.
        params: the continuous parameters.
        required: inlets that must be connected for the node to be valid.
        lti: whether the processor is linear time-invariant and acts on both
            channels alike when no control inlet is connected, so that it
            commutes with other such processors (used by LTI reordering).
        terminal: ``True`` for ``in``, ``out`` and the drum sources.
        channelwise: whether, with no control inlet connected, it treats the
            two channels alike and apart (a stereo-linked detector included), so
            that a clip whose channels are equal may run as one channel and be
            copied; the renderer does so, since most signals of a drum graph
            are still the mono dry tracks.
        generator: whether it makes a signal from no input (an LFO); the
            renderer then passes the clip length and batch size.
        mod_target: the parameter the ``mod`` inlet drives (see
            :meth:`modulated_param`); ``None`` without a ``mod`` inlet.
        energy_normalized: whether the renderer rescales the outputs to the
            input's energy; ``False`` for ``mix``, which passes its summed
            input on unchanged, and for the terminals.
    """

    name: str
    family: str
    description: str
    inlets: Tuple[str, ...] = ()
    outlets: Tuple[str, ...] = ()
    params: Tuple[Param, ...] = ()
    required: Tuple[str, ...] = ()
    lti: bool = False
    terminal: bool = False
    channelwise: bool = False
    generator: bool = False
    mod_target: Optional[str] = None
    energy_normalized: bool = True
    _by_name: Dict[str, Param] = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_name", {p.name: p for p in self.params})
        for port in self.inlets:
            assert port in INLETS, port
        for port in self.outlets:
            assert port in OUTLETS, port
        assert set(self.required) <= set(self.inlets)
        assert not (self.generator and self.inlets), self.name
        assert (self.mod_target is None) == ("mod" not in self.inlets), self.name
        for port in CONTROL_INLETS.intersection(self.inlets):
            assert self.modulated_param(port) in self._by_name, (self.name, port)

    def modulated_param(self, inlet: str) -> str:
        """The parameter a control inlet drives: ``mod`` drives :attr:`mod_target`;
        ``frequency``, ``gain`` and ``pan`` drive the parameter of their name."""
        return self.mod_target if inlet == "mod" else inlet

    def param(self, name: str) -> Param:
        return self._by_name[name]

    def has_param(self, name: str) -> bool:
        return name in self._by_name

    @property
    def param_names(self) -> Tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def defaults(self) -> Dict[str, float]:
        return {p.name: p.default for p in self.params}


# --- parameter constructors ------------------------------------------------
def _freq(default=1000.0, lo=20.0, hi=20000.0):
    return Param("frequency", "Hz", lo, hi, default, "log")


def _q(default=0.707):
    return Param("q", "", 0.1, 10.0, default, "log")


def _eq_gain():
    return Param("gain", "dB", -24.0, 24.0, 0.0)


def _mix(default=0.5):
    return Param("mix", "", 0.0, 1.0, default)


def _feedback(default=0.3, hi=0.9):
    return Param("feedback", "", 0.0, hi, default)


def _dynamics(threshold, ratio, attack, release, knee):
    return (
        Param("threshold", "dB", *threshold),
        Param("ratio", "", *ratio, "log"),
        Param("attack", "ms", *attack, "log"),
        Param("release", "ms", *release, "log"),
        Param("knee", "dB", *knee),
    )


def _lfo_params():
    return (
        Param("frequency", "Hz", 0.1, 20.0, 1.0, "log"),
        Param("phase", "cycles", 0.0, 1.0, 0.0),
        Param("stereo_offset", "cycles", 0.0, 0.5, 0.0),
    )


def _delay_params(delay_default):
    return (
        Param("delay", "ms", 10.0, 1000.0, delay_default, "log"),
        _feedback(0.3, 0.95),
        _mix(0.5),
        # The feedback loop holds a resonant lowpass at this frequency and q.
        _freq(4000.0, 200.0, 20000.0),
        _q(0.707),
        Param("stereo_offset", "ms", 0.0, 50.0, 0.0),
    )


def _modulated_delay(delay, feedback_default, mix_default):
    return (Param("delay", "ms", *delay, "log"), _feedback(feedback_default), _mix(mix_default))


def _build() -> Dict[str, ProcessorSpec]:
    specs = []

    def add(name, family, description, inlets=("in",), outlets=("out",), params=(),
            required=("in",), lti=False, **facts):
        specs.append(ProcessorSpec(name, family, description, tuple(inlets), tuple(outlets),
                                   tuple(params), tuple(required), lti, **facts))

    # Low-order linear filters (RBJ cookbook biquads; 4th order = two cascaded sections).
    for name, desc in [
        ("lowpass", "2nd-order lowpass"), ("bandpass", "2nd-order bandpass"),
        ("highpass", "2nd-order highpass"), ("bandreject", "2nd-order band-reject (notch)"),
        ("lowpass4", "4th-order lowpass"), ("bandpass4", "4th-order bandpass"),
        ("highpass4", "4th-order highpass"),
    ]:
        add(name, "filter", desc, ("in", "frequency"), params=(_freq(), _q()), lti=True, channelwise=True)
    for name, desc in [("lowshelf", "low-shelf equalizer"), ("highshelf", "high-shelf equalizer"),
                       ("bell", "peaking (bell) equalizer")]:
        add(name, "eq", desc, ("in", "frequency", "gain"), params=(_freq(), _q(), _eq_gain()), lti=True,
            channelwise=True)
    add("crossover", "filter", "Linkwitz-Riley band split; low + high is an allpass",
        ("in", "frequency"), ("low", "high"), (_freq(),), lti=True, channelwise=True)
    add("phaser", "modulation", "allpass-chain phaser with feedback", ("in", "mod"),
        params=(_freq(1000.0, 50.0, 10000.0), _feedback(0.5), _mix(0.5)), channelwise=True,
        mod_target="frequency")

    # High-order linear filters: modulated delay lines, delays, reverbs.
    add("chorus", "modulation", "chorus: modulated delay line", ("in", "mod"),
        params=_modulated_delay((5.0, 40.0, 15.0), 0.2, 0.5), mod_target="delay")
    add("flanger", "modulation", "flanger: short modulated delay with feedback", ("in", "mod"),
        params=_modulated_delay((0.5, 10.0, 2.0), 0.5, 0.5), mod_target="delay")
    add("vibrato", "modulation", "vibrato: modulated delay, wet only by default", ("in", "mod"),
        params=_modulated_delay((1.0, 10.0, 5.0), 0.0, 1.0), mod_target="delay")
    add("delay", "delay", "mono delay with a filtered feedback loop", params=_delay_params(250.0),
        lti=True)
    add("pingpong_delay", "delay", "stereo ping-pong delay with a filtered feedback loop",
        params=_delay_params(250.0))
    reverb = (Param("size", "", 0.0, 1.0, 0.5), Param("damping", "", 0.0, 1.0, 0.5),
              Param("width", "", 0.0, 1.0, 1.0), _mix(0.3))
    add("reverb", "reverb", "Freeverb-style reverb of the mono sum", params=reverb)
    add("stereo_reverb", "reverb", "Freeverb-style stereo reverb", params=reverb)

    # Nonlinear processors.
    add("distortion", "nonlinear", "waveshaping distortion",
        params=(Param("gain", "dB", 0.0, 40.0, 12.0), Param("hardness", "", 0.0, 1.0, 0.5),
                Param("asymmetry", "", 0.0, 1.0, 0.0)), channelwise=True)
    add("bitcrush", "nonlinear", "bit-depth reduction", params=(Param("bit", "bits", 2.0, 16.0, 8.0),),
        channelwise=True)
    add("compressor", "dynamics", "feed-forward compressor with soft knee", ("in", "sidechain"),
        params=_dynamics((-60.0, 0.0, -20.0), (1.0, 20.0, 4.0), (0.1, 100.0, 10.0),
                         (10.0, 1000.0, 100.0), (0.0, 24.0, 6.0)), channelwise=True)
    add("noisegate", "dynamics", "noise gate (downward expander with a high ratio)", ("in", "sidechain"),
        params=_dynamics((-80.0, -10.0, -50.0), (1.0, 20.0, 10.0), (0.1, 100.0, 1.0),
                         (10.0, 1000.0, 100.0), (0.0, 24.0, 6.0)), channelwise=True)
    add("expander", "dynamics", "downward expander", ("in", "sidechain"),
        params=_dynamics((-80.0, -10.0, -40.0), (1.0, 20.0, 2.0), (0.1, 100.0, 5.0),
                         (10.0, 1000.0, 100.0), (0.0, 24.0, 6.0)), channelwise=True)
    add("pitchshift", "pitch", "pitch shift by a number of semitones",
        params=(Param("semitone", "st", -12.0, 12.0, 0.0),), channelwise=True)

    # Utility processors.
    add("mix", "utility", "sums every signal on its inlet", energy_normalized=False)
    add("pan", "utility", "constant-power panner", ("in", "pan"),
        params=(Param("pan", "", -1.0, 1.0, 0.0),))
    add("imager", "utility", "stereo width (mid/side balance)",
        params=(Param("width", "", 0.0, 2.0, 1.0),))
    add("ms_split", "utility", "mid/side splitter", outlets=("mid", "side"))
    add("ms_merge", "utility", "mid/side merger", ("mid", "side"), required=("mid", "side"))

    # Control signal generators.
    add("lfo", "control", "low-frequency oscillator (mono)", (), ("lfo",), _lfo_params(), (), generator=True)
    add("stereo_lfo", "control", "low-frequency oscillator (stereo)", (), ("lfo",), _lfo_params(), (),
        generator=True)
    add("envelope", "control", "envelope follower", ("in",), ("env",),
        (Param("attack", "ms", 0.1, 100.0, 5.0, "log"), Param("release", "ms", 10.0, 1000.0, 100.0, "log"),
         Param("gain", "dB", -24.0, 24.0, 0.0)), channelwise=True)
    assert len(specs) == 33, len(specs)

    def terminal(name, family, description, **ports):  # the renderer passes audio through these as is
        return ProcessorSpec(name, family, description, terminal=True, energy_normalized=False, **ports)

    terminals = [terminal("in", "terminal", "dry input", outlets=("out",)),
                 terminal("out", "terminal", "rendered output", inlets=("in",), required=("in",))]
    terminals += [terminal(src, "source", f"dry {src} track (drum graphs)", outlets=("out",))
                  for src in DRUM_SOURCES]
    return {spec.name: spec for spec in terminals + specs}


SPECS: Dict[str, ProcessorSpec] = _build()
#: Every node type; the position is the type index used in tensors.
NODE_TYPES: Tuple[str, ...] = tuple(SPECS)
#: The 33 processors of Table 1.
PROCESSORS: Tuple[str, ...] = tuple(n for n, s in SPECS.items() if not s.terminal)
#: Terminals that feed a graph: ``in`` and the drum sources.
INPUT_TYPES: Tuple[str, ...] = ("in",) + DRUM_SOURCES
#: Length of the padded parameter vector of a node.
MAX_PARAMS: int = max(len(s.params) for s in SPECS.values())

TYPE_INDEX = {name: i for i, name in enumerate(NODE_TYPES)}
INLET_INDEX = {name: i for i, name in enumerate(INLETS)}
OUTLET_INDEX = {name: i for i, name in enumerate(OUTLETS)}


def get(name: str) -> ProcessorSpec:
    """Returns the spec of a node type; raises ``KeyError`` naming the type."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown processor type {name!r}") from None


def to_dict(name: Optional[str] = None) -> dict:
    """The catalog (or one entry) as plain JSON-ready data."""
    names = [name] if name else list(NODE_TYPES)
    out = {}
    for n in names:
        s = get(n)
        out[n] = {
            "family": s.family, "description": s.description, "inlets": list(s.inlets),
            "required_inlets": list(s.required), "outlets": list(s.outlets), "lti": s.lti,
            "terminal": s.terminal, "channelwise": s.channelwise, "generator": s.generator,
            "modulates": {i: s.modulated_param(i) for i in s.inlets if i in CONTROL_INLETS},
            "energy_normalized": s.energy_normalized,
            "params": [{"name": p.name, "unit": p.unit, "min": p.min, "max": p.max,
                        "default": p.default, "scale": p.scale} for p in s.params],
        }
    return out
