import os

import pytest

from graphfx.files import locked_directory, write_text_atomic


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


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_of_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_text_atomic(str(tmp_path / "a.json"), "{}")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.json").st_mode & 0o777 == mode


def test_a_directory_lock_leaves_nothing_behind(tmp_path):
    with locked_directory(str(tmp_path)):
        write_text_atomic(str(tmp_path / "results.json"), "{}")
    assert os.listdir(tmp_path) == ["results.json"]
