"""The decoder registry: decorator registration, creation by name, presets, entry-point plugins."""
import importlib.metadata
import sys
import types
from dataclasses import dataclass

import pytest
import torch

from graphfx.decoders import GraphDecoder, registry
from graphfx.decoders.tokengt import TokenGTDecoder
from graphfx.errors import GraphFXError


class _Dummy(GraphDecoder):
    """The smallest decoder: no parameters to speak of, an empty graph list."""

    @dataclass
    class Config:
        d_model: int = 8

    def __init__(self, config):
        super().__init__(config)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def loss(self, latents, tokens):
        loss = (latents * self.scale).square().mean()
        return {"loss": loss, "dummy": loss}

    def generate(self, latents, *, max_tokens=256, constrained=True, sample_rate=44100):
        return []

    def estimate_params(self, latents, tokens):
        return torch.zeros(*tokens.kind.shape, 6)


@pytest.fixture
def clean_registry(monkeypatch):
    """A private copy of the registry, so tests can register without leaking names."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.list_decoders()  # built-ins loaded into the copy
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    return registry


def test_builtin_tokengt_is_listed_and_created():
    assert "tokengt" in registry.list_decoders()
    assert registry.get("tokengt") is TokenGTDecoder
    decoder = registry.create("tokengt", preset="tiny", d_model=16, num_heads=2)
    assert isinstance(decoder, TokenGTDecoder) and decoder.name == "tokengt"
    assert decoder.config.d_model == 16 and decoder.config.num_layers == 2  # preset, then the overrides
    assert registry.list_decoders("token*") == ["tokengt"]


def test_config_round_trip_rebuilds_the_model():
    decoder = registry.create("tokengt", preset="tiny", max_nodes=48)
    again = registry.create(decoder.name, **decoder.config_dict())
    assert again.config == decoder.config
    again.load_state_dict(decoder.state_dict())


def test_register_create_and_list(clean_registry):
    clean_registry.register("dummy_test")(_Dummy)
    assert "dummy_test" in clean_registry.list_decoders()
    decoder = clean_registry.create("dummy_test", d_model=4)
    assert isinstance(decoder, _Dummy) and decoder.config.d_model == 4 and _Dummy.name == "dummy_test"
    clean_registry.register("dummy_test")(_Dummy)  # the same class again: fine


def test_register_rejects_bad_input(clean_registry):
    with pytest.raises(GraphFXError, match="GraphDecoder subclass"):
        clean_registry.register("not_a_decoder")(dict)

    class Other(_Dummy):
        pass

    with pytest.raises(GraphFXError, match="taken"):
        clean_registry.register("tokengt")(Other)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(GraphFXError, match="unknown decoder 'nope'.*tokengt"):
        registry.get("nope")
    with pytest.raises(GraphFXError, match="tokengt"):
        registry.create("nope")


def test_unknown_preset_and_field():
    with pytest.raises(GraphFXError, match="no preset 'huge'.*paper"):
        registry.create("tokengt", preset="huge")
    with pytest.raises(GraphFXError, match="unknown config field"):
        registry.create("tokengt", preset="tiny", colour="red")


def test_entry_point_plugin_is_discovered_lazily(clean_registry, monkeypatch):
    module = types.ModuleType("fake_graphfx_plugin")

    class FakeDecoder(_Dummy):
        pass

    module.FakeDecoder = FakeDecoder
    monkeypatch.setitem(sys.modules, "fake_graphfx_plugin", module)
    calls = []
    real = importlib.metadata.entry_points

    def entry_points(**kwargs):
        if kwargs.get("group") != registry.ENTRY_POINT_GROUP:
            return real(**kwargs)
        calls.append(kwargs)
        return [importlib.metadata.EntryPoint(name="fake_plugin", value="fake_graphfx_plugin:FakeDecoder",
                                              group=registry.ENTRY_POINT_GROUP),
                importlib.metadata.EntryPoint(name="broken_plugin", value="no_such_module_xyz:Nothing",
                                              group=registry.ENTRY_POINT_GROUP)]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert not calls  # nothing loaded before the first lookup
    with pytest.warns(RuntimeWarning, match="broken_plugin"):
        decoder = clean_registry.create("fake_plugin", d_model=2)
    assert isinstance(decoder, FakeDecoder) and FakeDecoder.name == "fake_plugin"
    assert "fake_plugin" in clean_registry.list_decoders() and "broken_plugin" not in clean_registry.list_decoders()
    assert len(calls) == 1  # discovered once
