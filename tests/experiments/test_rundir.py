"""Output folders: what medseg may create, replace, resume, and what it must refuse."""

import json

import pytest

from medseg.errors import RunDirError
from medseg.experiments.rundir import MARKER, OutputDir, check_output_dir, claim, read_marker


def _finished(path, kind="predict", files=("a.txt",)):
    with OutputDir.create(path, kind) as output:
        for name in files:
            (output.work / name).write_text("old")
    return path


def test_new_folder_gets_a_marker_and_is_complete_after_commit(tmp_path):
    out = tmp_path / "out"
    with OutputDir.create(out, "predict", info={"run_dir": "r"}) as output:
        assert output.work == out and read_marker(out)["complete"] is False
        (output.work / "x.csv").write_text("1")
    marker = read_marker(out)
    assert marker["complete"] and marker["entries"] == ["x.csv"] and marker["info"] == {"run_dir": "r"}


def test_existing_output_is_refused_without_flags(tmp_path):
    out = _finished(tmp_path / "out")
    with pytest.raises(RunDirError, match="--overwrite"):
        OutputDir.create(out, "predict")


def test_overwrite_replaces_only_when_the_new_output_is_complete(tmp_path):
    out = _finished(tmp_path / "out")
    with pytest.raises(KeyError), OutputDir.create(out, "predict", overwrite=True) as output:
        assert output.work != out  # written beside the old output
        (output.work / "b.txt").write_text("new")
        raise KeyError("the command failed half way")
    assert (out / "a.txt").read_text() == "old" and not (out / "b.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left
    with OutputDir.create(out, "predict", overwrite=True) as output:
        (output.work / "b.txt").write_text("new")
    assert not (out / "a.txt").exists() and (out / "b.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_folders_medseg_did_not_write_are_never_removed(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(RunDirError, match="did not write"):
        OutputDir.create(out, "train", overwrite=True)
    assert (out / "thesis.tex").read_text() == "years of work"


def test_foreign_files_in_a_medseg_folder_block_overwrite(tmp_path):
    out = _finished(tmp_path / "out")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="notes.txt"):
        OutputDir.create(out, "predict", overwrite=True)
    claim(out, "notes.txt")  # medseg writing into its own folder later records the entry
    OutputDir.create(out, "predict", overwrite=True).abandon()


@pytest.mark.parametrize("where", ["cwd", "parent"])
def test_current_folder_and_its_parents_are_refused(tmp_path, monkeypatch, where):
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    target = inner if where == "cwd" else tmp_path
    with pytest.raises(RunDirError, match="current folder"):
        check_output_dir(target, "predict", overwrite=True)
    with pytest.raises(RunDirError, match="current folder"):
        check_output_dir(".", "predict", overwrite=True)


def test_inputs_and_folders_containing_them_are_refused(tmp_path):
    data = tmp_path / "data" / "images"
    data.mkdir(parents=True)
    with pytest.raises(RunDirError, match="is an input"):
        check_output_dir(data, "train", [data], overwrite=True)
    with pytest.raises(RunDirError, match="contains the input"):
        check_output_dir(tmp_path / "data", "train", [data], overwrite=True)
    check_output_dir(tmp_path / "data" / "run", "train", [data])  # beside or inside an input is fine


def test_another_kind_of_output_is_refused(tmp_path):
    out = _finished(tmp_path / "run", kind="train")
    with pytest.raises(RunDirError, match="train output"):
        check_output_dir(out, "predict", overwrite=True)


def test_resume_keeps_files_and_needs_something_to_resume(tmp_path):
    with pytest.raises(RunDirError, match="nothing to resume"):
        OutputDir.create(tmp_path / "none", "predict", resume=True)
    out = tmp_path / "out"
    OutputDir.create(out, "predict")
    (out / "part.txt").write_text("half")  # killed here: no commit
    with pytest.raises(RunDirError, match="exclude"):
        OutputDir.create(out, "predict", overwrite=True, resume=True)
    with OutputDir.create(out, "predict", resume=True) as output:
        assert output.work == out and (out / "part.txt").is_file()
    assert read_marker(out)["complete"]


def test_a_failure_before_writing_leaves_no_folder(tmp_path):
    with pytest.raises(ValueError), OutputDir.create(tmp_path / "out", "convert"):
        raise ValueError("bad input found late")
    assert not (tmp_path / "out").exists()


def test_marker_is_plain_json(tmp_path):
    out = _finished(tmp_path / "out")
    assert json.loads((out / MARKER).read_text())["kind"] == "predict"
