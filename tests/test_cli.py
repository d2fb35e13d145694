import json

import pytest
from click.testing import CliRunner

from conftest import EXAMPLE_JSON
from graphfx.cli import main


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args))


def test_processors_table_and_json(run):
    result = run("processors")
    assert result.exit_code == 0 and "pingpong_delay" in result.output
    data = json.loads(run("processors", "--json").output)
    assert len(data) == 41 and data["bell"]["inlets"] == ["in", "frequency", "gain"]
    assert list(json.loads(run("processors", "--json", "bell").output)) == ["bell"]
    assert run("processors", "kazoo").exit_code == 2


def test_validate_valid_file(run, tmp_path):
    path = tmp_path / "g.json"
    path.write_text(EXAMPLE_JSON)
    result = run("validate", str(path))
    assert result.exit_code == 0 and "valid" in result.output


@pytest.mark.parametrize("text, fragment", [
    ("{", "malformed JSON"),
    (EXAMPLE_JSON.replace('"type": "mix"', '"type": "mixx"'), "unknown processor type 'mixx'"),
    (EXAMPLE_JSON.replace('"outlet": "low"', '"outlet": "lo"'), "no outlet 'lo'"),
    (EXAMPLE_JSON.replace('{"src": "m", "dst": "out"}]', '{"src": "m", "dst": "out"}, {"src": "m", "dst": "x"}]'),
     "cycle"),
    (EXAMPLE_JSON.replace('"frequency": 800', '"frequency": 80000'), "outside"),
])
def test_validate_invalid_files_print_one_line_and_exit_2(run, tmp_path, text, fragment):
    path = tmp_path / "g.json"
    path.write_text(text)
    result = run("validate", str(path))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.output


def test_validate_missing_file(run, tmp_path):
    result = run("validate", str(tmp_path / "nope.json"))
    assert result.exit_code == 2 and "cannot read" in result.output


def test_draw_writes_a_png(run, tmp_path):
    pytest.importorskip("matplotlib")
    src = tmp_path / "g.json"
    src.write_text(EXAMPLE_JSON)
    out = tmp_path / "g.png"
    result = run("draw", str(src), "-o", str(out), "--canonical")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
