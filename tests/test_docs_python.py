"""Every Python block of docs/python.md runs, in order, on a tiny copy of the layout it names."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).parents[1] / "docs" / "python.md"


@pytest.fixture
def doc_layout(tmp_path, tiny_run):
    import shutil

    from medseg.data.phantoms import write_bone_scan_dataset, write_fetal_head_dataset
    from medseg.data.phantoms.ct import display_affine, liver_phantom
    from medseg.data.volumes import save_nifti

    shutil.copytree(tiny_run, tmp_path / "demo_out" / "run")
    write_fetal_head_dataset(tmp_path / "demo_out" / "data", n_subjects=40, shape=(96, 128), seed=0)  # as the demo
    scans = write_bone_scan_dataset(tmp_path / "bone_data", n_patients=1, seed=5) / "images"
    shutil.copytree(scans, tmp_path / "scans")
    from medseg.data.io import encode_image
    from medseg.data.phantoms.endoscopy import polyp_frame
    from medseg.io import atomic_write_bytes

    frame, _, _ = polyp_frame(np.random.default_rng(0), (96, 128))
    atomic_write_bytes(tmp_path / "frames" / "frame.jpg", encode_image(frame, ".jpg"))
    hu, _ = liver_phantom(np.random.default_rng(0), (6, 32, 32))
    (tmp_path / "ct").mkdir()
    save_nifti(hu.transpose(2, 1, 0), display_affine((2.5, 0.8, 0.8), hu.shape), tmp_path / "ct" / "patient.nii.gz")
    return tmp_path


def test_every_example_of_the_python_page_runs(doc_layout, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 5
    namespace: dict = {}
    before = os.getcwd()
    os.chdir(doc_layout)
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the page's own examples
    finally:
        os.chdir(before)
    printed = capsys.readouterr().out
    assert "['background', 'head']" in printed and "mm head circumference" in printed and " px" in printed
    assert "pixel_size_mm=-1: give a positive size in mm" in printed and "% BSI" in printed
    assert "px2 of polyp" in printed and namespace["frame"].mask.shape == (96, 128)
    result, ct = namespace["result"], namespace["ct"]
    assert result.mask.shape == result.probabilities.shape[1:] and result.mask.dtype == np.uint8
    assert ct.labels.shape == (6, 32, 32) and ct.volume.affine.shape == (4, 4)
