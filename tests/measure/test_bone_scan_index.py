"""Bone Scan Index on phantoms whose hotspot share of the skeleton is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medseg.data.phantoms.bone_scan import BONE, HOTSPOT, UPTAKE, bone_scan_views
from medseg.data.readers.bone_scan import to_scheme
from medseg.measure.bone_scan_index import bone_scan_index, patient_bone_scan_index


def phantom_with_share(share: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Phantom label maps (both views) in which exactly ``share`` of the skeleton is hotspot."""
    views = bone_scan_views(np.random.default_rng(seed), (256, 96), n_hotspots=0)
    out = {}
    for view, (_, labels) in views.items():
        labels = labels.copy()
        bone = np.flatnonzero(labels == BONE)
        labels.flat[bone[: round(share * bone.size)]] = HOTSPOT  # a run of skeleton pixels turns hot
        out[view] = labels
    return out


@pytest.mark.parametrize("share", [0.0, 0.02, 0.1, 0.35])
def test_bsi_recovers_the_known_hotspot_share(share):
    views = phantom_with_share(share)
    for view, labels in views.items():
        skeleton = np.count_nonzero(bone_scan_views(np.random.default_rng(0), (256, 96), 0)[view][1] == BONE)
        result = bone_scan_index(labels, scheme=4)
        assert result["skeleton_px"] == skeleton and result["hotspot_px"] == round(share * skeleton)
        assert result["bsi_percent"] == pytest.approx(100 * share, abs=0.05)
    patient = patient_bone_scan_index(views)
    assert patient["bsi_mean_percent"] == pytest.approx(100 * share, abs=0.05)
    assert set(patient) == {"bsi_anterior_percent", "bsi_posterior_percent", "bsi_mean_percent"}


def test_three_segment_scheme_counts_normal_uptake_as_skeleton():
    labels = phantom_with_share(0.1)["anterior"]
    four = bone_scan_index(labels, scheme=4, spacing_mm=(2.4, 2.4))
    three = bone_scan_index(to_scheme(labels, 3), scheme=3)
    uptake = np.count_nonzero(labels == UPTAKE)
    assert uptake > 0 and three["skeleton_px"] == four["skeleton_px"] + uptake
    assert three["bsi_percent"] < four["bsi_percent"]
    assert four["hotspot_mm2"] == pytest.approx(four["hotspot_px"] * 2.4**2)


def test_phantom_hotspots_and_bad_input():
    views = bone_scan_views(np.random.default_rng(3), (256, 96), n_hotspots=3)
    ant, post = (bone_scan_index(labels)["bsi_percent"] for _, labels in views.values())
    assert 0 < ant < 100 and ant == pytest.approx(post)  # the posterior view is the mirror image
    assert math.isnan(bone_scan_index(np.zeros((4, 4), np.uint8))["bsi_percent"])
    with pytest.raises(ValueError, match="outside"):
        bone_scan_index(np.full((4, 4), 3, np.uint8), scheme=3)
    with pytest.raises(ValueError, match="scheme"):
        bone_scan_index(np.zeros((4, 4), np.uint8), scheme=5)
