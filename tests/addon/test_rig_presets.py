"""Rig presets, the family finder, name-based guesses and mapping files (no bpy)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from addon.core import rig_presets as rp
from addon.core.rig_retarget import fractional_rotation, swing
from addon.core.rotations import axis_angle_to_matrix


def test_every_preset_loads_and_cites_its_sources() -> None:
    presets = rp.presets()
    assert {"smpl", "mixamo", "rigify", "rigify_metarig", "rigify_def", "ue5_manny", "ue4_mannequin",
            "auto_rig_pro", "auto_rig_pro_deform", "vroid", "character_creator", "daz_genesis8",
            "daz_genesis9"} <= set(presets)
    for preset in presets.values():
        assert preset.sources and all(len(source) > 20 for source in preset.sources), preset.name
        assert preset.bones.get("pelvis"), preset.name
        assert {"left_hip", "right_knee", "left_shoulder", "right_wrist", "head"} <= set(preset.bones), preset.name


@pytest.mark.parametrize("name", sorted(rp.load_presets()))
def test_each_preset_is_found_from_its_own_names(name: str) -> None:
    preset = rp.presets()[name]
    bones = preset.required_bones() + ["extra_bone", "Armature"]
    assert rp.find_preset(bones).name == name


@pytest.mark.parametrize("prefix", ["", "mixamorig:", "mixamorig1:", "mixamorig12:"])
def test_mixamo_with_any_prefix(prefix: str) -> None:
    names = [prefix + bone for bone in rp.presets()["mixamo"].required_bones()]
    mapping = rp.mapping_for(names, {})
    assert mapping.preset == "mixamo" and mapping.joints["left_hip"] == (prefix + "LeftUpLeg",)
    assert mapping.missing(names) == []


def test_rig_with_no_preset_gets_a_name_based_guess() -> None:
    bones = {"Root": None, "Pelvis_M": "Root", "Spine_Lower": "Pelvis_M", "Spine_Mid": "Spine_Lower",
             "Spine_Upper": "Spine_Mid", "Chest_M": "Spine_Upper", "Neck_M": "Chest_M", "Head_M": "Neck_M"}
    for mark in ("L_", "R_"):
        bones.update({f"{mark}Thigh": "Pelvis_M", f"{mark}Knee": f"{mark}Thigh", f"{mark}Ankle": f"{mark}Knee",
                      f"{mark}Clavicle": "Chest_M", f"{mark}UpperArm": f"{mark}Clavicle",
                      f"{mark}Elbow": f"{mark}UpperArm", f"{mark}Wrist": f"{mark}Elbow",
                      f"{mark}UpperArm_IK": f"{mark}Clavicle"})
    mapping = rp.mapping_for(list(bones), bones)
    assert mapping.preset == "guessed"
    assert mapping.joints["pelvis"] == ("Pelvis_M",) and mapping.joints["head"] == ("Head_M",)
    assert mapping.joints["left_hip"] == ("L_Thigh",) and mapping.joints["right_knee"] == ("R_Knee",)
    assert mapping.joints["left_shoulder"] == ("L_UpperArm",) and mapping.joints["right_collar"] == ("R_Clavicle",)
    assert mapping.joints["neck"] == ("Neck_M",)
    spine = [bone for joint in ("spine1", "spine2", "spine3") for bone in mapping.joints[joint]]
    assert spine == ["Spine_Lower", "Spine_Mid", "Spine_Upper", "Chest_M"]
    assert mapping.missing(list(bones)) == []


@pytest.mark.parametrize(("name", "expected"), [
    ("mixamorig:LeftUpLeg", ("L", "upleg")), ("thigh.L", ("L", "thigh")), ("DEF-thigh.R", ("R", "thigh")),
    ("lShldrBend", ("L", "shldrbend")), ("CC_Base_L_Thigh", ("L", "thigh")), ("J_Bip_R_UpperArm", ("R", "upperarm")),
    ("upperarm_l", ("L", "upperarm")), ("c_thigh_fk.l", ("L", "thigh")), ("Bip01 R Thigh", ("R", "thigh")),
    ("spine_01", ("", "spine01")),
])
def test_names_are_normalised(name: str, expected: tuple[str, str]) -> None:
    assert rp.normalise_bone_name(name) == expected


def test_mapping_file_round_trip_and_errors(tmp_path: Path) -> None:
    mapping = rp.mapping_for(rp.presets()["ue5_manny"].required_bones() + ["root"], {})
    path = tmp_path / "m.json"
    path.write_text(rp.mapping_to_json(mapping))
    loaded = rp.load_mapping_file(path)
    assert loaded.joints["spine1"] == ("spine_01", "spine_02") and loaded.root_bone == "root"
    path.write_text(json.dumps({"joints": {"left_tail": "x"}}))
    with pytest.raises(rp.MappingError, match=r"m\.json: unknown SMPL joints left_tail"):
        rp.load_mapping_file(path)
    path.write_text("{ not json")
    with pytest.raises(rp.MappingError, match=r"m\.json: not valid JSON"):
        rp.load_mapping_file(path)
    with pytest.raises(rp.MappingError, match="cannot read"):
        rp.load_mapping_file(tmp_path / "absent.json")
    with pytest.raises(rp.MappingError, match="unknown rig preset 'nope'"):
        rp.mapping_for([], {}, "nope")


def test_partial_mapping_lists_and_drops_missing_bones() -> None:
    names = rp.presets()["mixamo"].required_bones()
    names.remove("LeftHand")
    mapping = rp.mapping_for(names, {}, "mixamo")
    assert mapping.missing(names) == ["LeftHand"]
    assert mapping.restricted_to(names).joints["left_wrist"] == ()


def test_swing_and_fractional_rotation() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.normal(size=3), rng.normal(size=3)
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        rotation = swing(a, b)
        np.testing.assert_allclose(rotation @ a, b, atol=1e-9)
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    rotations = axis_angle_to_matrix(rng.normal(size=(10, 3)))
    half = fractional_rotation(rotations, 0.5)
    np.testing.assert_allclose(half @ half, rotations, atol=1e-9)


def test_vrm_humanoid_assignment_wins_over_bone_names() -> None:
    """A VRM rig whose bones carry any names: the VRM add-on's humanoid assignment (humanoid name -> bone)
    picks the VRoid preset and maps each joint to the assigned bone."""
    vroid = rp.presets()["vroid"]
    humanoid = {human: f"Bone{index:02d}" for index, human in enumerate(vroid.humanoid.values())}
    names = list(humanoid.values()) + ["Armature"]
    assert rp.find_preset(names) is None or rp.find_preset(names).name != "vroid"  # names alone say nothing
    mapping = rp.mapping_for(names, {}, "auto", humanoid)
    assert mapping.preset == "vroid"
    for joint, human in vroid.humanoid.items():
        assert mapping.joints[joint] == (humanoid[human],), joint
    assert mapping.missing(names) == []
