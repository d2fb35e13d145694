import os

import pytest

from graphfx.files import write_text_atomic


def test_write_text_atomic_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    write_text_atomic(str(path), "first")
    write_text_atomic(str(path), "second")
    assert path.read_text() == "second"
    assert os.listdir(tmp_path) == ["a.json"]


def test_write_text_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "a.json"
    write_text_atomic(str(path), "kept")
    with pytest.raises(TypeError):
        write_text_atomic(str(path), None)  # not text: fails mid-write
    assert path.read_text() == "kept" and os.listdir(tmp_path) == ["a.json"]
