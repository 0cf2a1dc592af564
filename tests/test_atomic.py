import pytest

from flexcode_bench.atomic import atomic_directory, write_text


def test_an_interrupted_file_write_keeps_the_old_content(tmp_path):
    target = tmp_path / "stats.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        from flexcode_bench.atomic import atomic_path

        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]


def test_an_interrupted_directory_write_keeps_the_previous_complete_folder(tmp_path):
    target = tmp_path / "ml-100k"
    with atomic_directory(target) as staging:
        (staging / "a.txt").write_text("complete")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            (staging / "a.txt").write_text("partial")
            raise RuntimeError("Ctrl-C")
    assert (target / "a.txt").read_text() == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k"]


def test_a_finished_directory_write_replaces_the_folder_whole(tmp_path):
    target = tmp_path / "d"
    with atomic_directory(target) as staging:
        (staging / "old.txt").write_text("x")
    with atomic_directory(target) as staging:
        (staging / "new.txt").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
