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


def test_single_files_replace_only_what_medseg_wrote(tmp_path):
    from medseg.experiments.rundir import FILES_LEDGER, plan_files, record_files

    page = tmp_path / "out" / "compare.html"
    page.parent.mkdir()
    targets = plan_files(page, ".html", [".csv"])
    assert targets == [page, page.with_suffix(".csv")]
    for target in targets:
        target.write_text("first")
    record_files(targets, "compare")
    assert plan_files(page, ".html", [".csv"]) == targets  # medseg's own files: replaced
    page.with_suffix(".csv").write_text("edited by hand")
    with pytest.raises(RunDirError, match="compare.csv: refused to overwrite"):
        plan_files(page, ".html", [".csv"])
    with pytest.raises(RunDirError, match="must end in .html"):
        plan_files(tmp_path / "out" / "notes.txt", ".html")
    with pytest.raises(RunDirError, match="reserves"):
        plan_files(tmp_path / "out" / FILES_LEDGER.replace(".json", ".html"), ".html", [".json"])
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(RunDirError, match="inside the dataset"):
        plan_files(data / "x.html", ".html", data=[data])


def test_single_files_stay_at_a_medseg_folders_top_level(tmp_path):
    from medseg.experiments.rundir import plan_files, record_files

    run = tmp_path / "run"
    with OutputDir.create(run, "train") as output:
        (output.work / "checkpoints").mkdir()
        (output.work / "split.json").write_text("{}")
    with pytest.raises(RunDirError, match="top level"):
        plan_files(run / "checkpoints" / "x.html", ".html")
    with pytest.raises(RunDirError, match="split.json"):
        plan_files(run / "split.onnx", ".onnx", [".json"])
    (report,) = plan_files(run / "report.html", ".html")
    report.write_text("<p>report</p>")
    record_files([report], "report")
    assert {"report.html", ".medseg-files.json"} <= set(read_marker(run)["entries"])  # --overwrite may replace them
    check_output_dir(run, "train", overwrite=True)


def test_overwrite_keeps_files_saved_into_an_interrupted_folder(tmp_path):
    out = tmp_path / "pred"
    OutputDir.create(out, "predict")  # killed before commit
    (out / "masks").mkdir()
    check_output_dir(out, "predict", overwrite=True)  # medseg's own partial output: may be replaced
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="notes.txt that medseg did not write"):
        check_output_dir(out, "predict", overwrite=True)


def test_names_from_models_stay_inside(tmp_path):
    from medseg.experiments.rundir import inside, safe_name

    assert safe_name("../../x") == "x" and safe_name("/") == "item" and safe_name("tumour") == "tumour"
    assert safe_name("a" * 300, limit=64) == "a" * 64
    for name in ("../x", "/etc/x", "a/../../x", "x\x00y", "."):
        with pytest.raises(RunDirError, match="leaves the output folder"):
            inside(tmp_path, name)
    assert inside(tmp_path, "tumours.csv") == tmp_path / "tumours.csv"
