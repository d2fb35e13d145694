"""A decoder from an installed package reaches the command line through its entry point."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner


@pytest.fixture
def plugin_path(tmp_path):
    """A folder that holds a tiny plugin distribution as pip would install it: the package and its .dist-info
    with entry_points.txt."""
    (tmp_path / "demo_plugin").mkdir()
    (tmp_path / "demo_plugin" / "__init__.py").write_text(textwrap.dedent('''
        from graphfx.decoders.tokengt import TokenGTDecoder


        class DemoDecoder(TokenGTDecoder):
            """A decoder from a plugin package."""
    '''))
    info = tmp_path / "demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[graphfx.decoders]\ndemo_decoder = demo_plugin:DemoDecoder\n")
    return tmp_path


def test_an_entry_point_decoder_is_listed_by_the_cli(plugin_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "graphfx.cli", "decoders"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "demo_decoder" in result.stdout and "tokengt" in result.stdout
    assert "plugin package" in result.stdout  # its docstring, as the description


def test_an_entry_point_decoder_is_benchmarked_by_the_cli(plugin_path, tmp_path, monkeypatch):
    from graphfx.cli import main
    from graphfx.decoders import registry
    from graphfx.synth.generate import DatasetSpec, generate

    # In this process (no second start-up of torch): the plugin on the path, found by entry point as the
    # command looks the name up; the registry and the module as they were afterwards.
    monkeypatch.syspath_prepend(str(plugin_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.delitem(sys.modules, "demo_plugin", raising=False)
    data = str(tmp_path / "data")  # the smoke preset's clips, fewer of them
    generate(data, DatasetSpec("singing", num_train=4, num_val=2, sample_rate=16000, num_samples=8000, shard_size=4))
    out = tmp_path / "bench"
    result = CliRunner().invoke(main, ["bench", "--decoder", "demo_decoder", "--preset", "smoke", "--data", data,
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "demo_decoder training: 20/20 steps" in result.output and "warning" not in result.output
    assert set(json.loads((out / "results.json").read_text())["systems"]["demo_decoder"]) == {"seen", "unseen"}
