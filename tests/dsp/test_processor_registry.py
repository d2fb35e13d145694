"""The processor registry under concurrent first use (the renderer's threads)."""
import importlib
import time
from concurrent.futures import ThreadPoolExecutor

import graphfx.dsp as dsp


def test_a_lookup_during_the_first_load_never_sees_a_half_filled_registry(monkeypatch):
    for family in dsp.FAMILIES:  # imported already, so that only the sleep below takes time
        importlib.import_module(f"graphfx.dsp.{family}")
    monkeypatch.setattr(dsp, "_registry", {})
    load = importlib.import_module

    def slow_import(name):
        time.sleep(0.02)
        return load(name)

    monkeypatch.setattr(dsp.importlib, "import_module", slow_import)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(dsp.get_processor, "bell")  # "filters", the first family
        while not dsp._registry and not first.done():  # until the registry is visible to others
            time.sleep(0.001)
        second = pool.submit(dsp.get_processor, "mix")  # "utility", the last family
        assert callable(first.result()) and callable(second.result())
