"""A decoder from an installed package reaches the command line through its entry point."""
import os
import subprocess
import sys
import textwrap


def test_an_entry_point_decoder_is_listed_by_the_cli(tmp_path):
    # A tiny distribution as pip would install it: the package and its .dist-info with entry_points.txt.
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
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "graphfx.cli", "decoders"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "demo_decoder" in result.stdout and "tokengt" in result.stdout
    assert "plugin package" in result.stdout  # its docstring, as the description
