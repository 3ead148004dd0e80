"""Rig presets and bone mappings: which target bone each SMPL joint drives (no bpy).

A preset is a data file in `addon/presets/` (one per rig family, JSON, each citing where its
names come from). A *mapping* is what the import uses: for each SMPL joint, the target bones it
drives, ordered from the joint outwards. One joint may drive a chain (UE5's spine_01 and
spine_02 share SMPL's spine1), or nothing (an empty list: the joint's rotation goes to the next
mapped joint down the tree).

The finder scores every preset against the armature's bone names, after removing a namespace
prefix the rig may carry (`mixamorig:`, `mixamorig1:`, `Armature|`), and picks the best one.
A rig that matches none gets `guess_mapping`: names are normalised (separators, case, side
markers such as `.L`, `_l`, `Left`, `L_`, known prefixes such as `DEF-`, `CC_Base_`,
`J_Bip_`), matched against alias lists, and the spine and neck chains are read from the
hierarchy between the pelvis and the head (the method of Rokoko's retargeter's
`standardize_bone_name` plus alias lists; see shared/reference/prior_art.md section 3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import smpl

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
#: The joints a humanoid mapping must cover; SMPL's hand joints (finger bases) are never needed.
BODY_JOINTS: tuple[str, ...] = tuple(name for name in smpl.JOINT_NAMES if name not in ("left_hand", "right_hand"))
#: Share of a preset's required bones that must be present for the finder to pick it.
MATCH_THRESHOLD = 0.9
MAPPING_FORMAT = "video_mocap.mapping/1"


class MappingError(ValueError):
    """A preset or mapping file is unreadable or names unknown joints; the message says which."""


@dataclass(frozen=True)
class PropertySetting:
    """A custom property the import sets on a pose bone (e.g. Rigify's IK_FK switch to FK)."""

    bone: str
    name: str
    value: float


@dataclass(frozen=True)
class RigPreset:
    name: str
    title: str
    bones: dict[str, tuple[str, ...]]        # SMPL joint -> target bones (a chain, parent first)
    optional: frozenset[str] = frozenset()    # joints that may be absent from the rig
    priority: int = 0                         # breaks ties (controls before deform bones)
    root_bone: str = ""                       # game-engine root bone, for root motion on the root
    free_direction: frozenset[str] = frozenset()  # controls not laid along a limb: turned with the body only
    properties: tuple[PropertySetting, ...] = ()
    humanoid: dict[str, str] = field(default_factory=dict)  # SMPL joint -> VRM humanoid bone name
    sources: tuple[str, ...] = ()

    def required_bones(self) -> list[str]:
        return [bone for joint, chain in self.bones.items() if joint not in self.optional for bone in chain]


@dataclass(frozen=True)
class BoneMapping:
    """SMPL joint -> target bones, plus what the preset adds (root bone, switches, free bones)."""

    joints: dict[str, tuple[str, ...]]
    preset: str = "custom"
    root_bone: str = ""
    free_direction: frozenset[str] = frozenset()
    properties: tuple[PropertySetting, ...] = ()
    optional: frozenset[str] = frozenset()

    def mapped_bones(self) -> list[str]:
        return [bone for chain in self.joints.values() for bone in chain]

    def missing(self, bone_names: Sequence[str] | set[str]) -> list[str]:
        """Mapped bones the armature lacks, plus required joints that map to nothing, as readable items."""
        present = set(bone_names)
        lacking = [bone for joint, chain in self.joints.items() if joint not in self.optional
                   for bone in chain if bone not in present]
        unmapped = [f"({joint}: no bone)" for joint in BODY_JOINTS
                    if joint not in self.optional and not self.joints.get(joint) and joint in _ESSENTIAL]
        return lacking + unmapped

    def restricted_to(self, bone_names: Sequence[str] | set[str]) -> BoneMapping:
        """The same mapping without the bones the armature lacks (a partial mapping, accepted explicitly)."""
        present = set(bone_names)
        joints = {joint: tuple(bone for bone in chain if bone in present) for joint, chain in self.joints.items()}
        return BoneMapping(joints, self.preset, self.root_bone if self.root_bone in present else "",
                           self.free_direction, self.properties, self.optional)


#: Joints without which the body cannot be placed (pelvis, legs); arms, spine and head may be partial.
_ESSENTIAL = frozenset({"pelvis"})


def _chain(value: object, source: str, joint: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise MappingError(f"{source}: joint '{joint}' must map to a bone name or a list of names, got {value!r}")


def _check_joints(names: object, source: str) -> None:
    unknown = [name for name in names if name not in smpl.JOINT_NAMES]  # type: ignore[union-attr]
    if unknown:
        raise MappingError(f"{source}: unknown SMPL joints {', '.join(map(str, unknown))}; "
                           f"known: {', '.join(smpl.JOINT_NAMES)}")


def preset_from_dict(data: Mapping[str, object], source: str) -> RigPreset:
    """A preset from its JSON data; MappingError names the file and the bad entry."""
    try:
        bones_data = data["bones"]
        name = str(data["name"])
    except (KeyError, TypeError) as exc:
        raise MappingError(f"{source}: a preset needs 'name' and 'bones' ({exc})") from None
    if not isinstance(bones_data, dict):
        raise MappingError(f"{source}: 'bones' must be an object of SMPL joint -> bone names")
    _check_joints(bones_data, source)
    humanoid = data.get("humanoid", {})
    if not isinstance(humanoid, dict):
        raise MappingError(f"{source}: 'humanoid' must be an object of SMPL joint -> humanoid bone")
    _check_joints(humanoid, source)
    properties = tuple(PropertySetting(str(item["bone"]), str(item["name"]), float(item["value"]))
                       for item in data.get("properties", []))  # type: ignore[union-attr]
    return RigPreset(
        name=name, title=str(data.get("title", name)),
        bones={joint: _chain(value, source, joint) for joint, value in bones_data.items()},
        optional=frozenset(data.get("optional", [])), priority=int(data.get("priority", 0)),  # type: ignore[arg-type]
        root_bone=str(data.get("root_bone", "") or ""),
        free_direction=frozenset(data.get("free_direction", [])),  # type: ignore[arg-type]
        properties=properties, humanoid={str(k): str(v) for k, v in humanoid.items()},
        sources=tuple(str(s) for s in data.get("sources", [])))  # type: ignore[union-attr]


def load_presets(directory: Path = PRESETS_DIR) -> dict[str, RigPreset]:
    """Every preset file in `directory`, by name, highest priority first."""
    presets = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MappingError(f"{path}: not a readable preset file ({exc})") from exc
        presets.append(preset_from_dict(data, str(path)))
    presets.sort(key=lambda preset: (-preset.priority, preset.name))
    return {preset.name: preset for preset in presets}


_PRESETS: dict[str, RigPreset] | None = None


def presets() -> dict[str, RigPreset]:
    """The shipped presets (read once)."""
    global _PRESETS
    if _PRESETS is None:
        _PRESETS = load_presets()
    return _PRESETS


def detect_prefix(preset: RigPreset, bone_names: Sequence[str]) -> str:
    """The namespace prefix the rig puts before the preset's names ('' when none): the prefix
    that the most preset bones share, e.g. 'mixamorig:' or 'mixamorig12:'."""
    wanted = preset.required_bones()
    counts: dict[str, int] = {}
    for name in bone_names:
        for bone in wanted:
            if name.endswith(bone) and name != bone:
                prefix = name[: len(name) - len(bone)]
                if prefix[-1:] in (":", "|", "_", "-", "."):
                    counts[prefix] = counts.get(prefix, 0) + 1
    exact = sum(bone in set(bone_names) for bone in wanted)
    if not counts:
        return ""
    best = max(counts, key=lambda prefix: (counts[prefix], -len(prefix)))
    return best if counts[best] > exact else ""


def preset_mapping(preset: RigPreset, bone_names: Sequence[str] = (), humanoid: Mapping[str, str] | None = None,
                   prefix: str | None = None) -> BoneMapping:
    """The preset as a mapping for this rig: its names with the rig's prefix, or, for a preset with
    humanoid names (VRM), the VRM add-on's humanoid assignment when the rig has one."""
    if humanoid and preset.humanoid:
        joints = {joint: ((humanoid[human],) if humanoid.get(human) else ())
                  for joint, human in preset.humanoid.items()}
        return BoneMapping(joints, preset.name, "", frozenset(), preset.properties, preset.optional)
    if prefix is None:
        prefix = detect_prefix(preset, bone_names)
    joints = {joint: tuple(prefix + bone for bone in chain) for joint, chain in preset.bones.items()}
    return BoneMapping(joints, preset.name, prefix + preset.root_bone if preset.root_bone else "",
                       frozenset(prefix + bone for bone in preset.free_direction),
                       tuple(PropertySetting(prefix + s.bone, s.name, s.value) for s in preset.properties),
                       preset.optional)


def match_score(preset: RigPreset, bone_names: Sequence[str]) -> float:
    """Share of the preset's required bones present in the rig (after its prefix)."""
    required = preset.required_bones()
    if not required:
        return 0.0
    prefix = detect_prefix(preset, bone_names)
    present = set(bone_names)
    return sum(prefix + bone in present for bone in required) / len(required)


def find_preset(bone_names: Sequence[str], humanoid: Mapping[str, str] | None = None) -> RigPreset | None:
    """The rig family: the VRM preset when the rig carries a VRM humanoid assignment, else the preset
    with the highest share of its bones present (at least MATCH_THRESHOLD; ties by priority)."""
    if humanoid:
        for preset in presets().values():
            if preset.humanoid:
                return preset
    best: tuple[float, bool, int, RigPreset] | None = None
    for preset in presets().values():
        score = match_score(preset, bone_names)
        # the rig's own names beat the same names behind a prefix (DEF-spine is not the metarig's spine)
        key = (score, detect_prefix(preset, bone_names) == "", preset.priority)
        if score >= MATCH_THRESHOLD and (best is None or key > best[:3]):
            best = (*key, preset)
    return best[3] if best else None


# --- best-effort mapping for rigs that match no preset ------------------------------------------

_SEPARATORS = re.compile(r"[\s._\-:|]+")
_KNOWN_PREFIXES = ("valvebiped", "bip01", "bip001", "bip", "ccbase", "jbip", "def", "org", "mixamorig", "armature",
                   "c", "j", "b")
_SIDE_FREE_SUFFIXES = ("fk",)
_SKIP_WORDS = ("mch", "ik", "pole", "target", "tweak", "twist", "roll", "end", "nub", "helper", "socket", "vis",
               "wgt", "parent", "snap", "track", "stretch", "lock", "pivot", "hinge", "follow")
#: Normalised core name -> SMPL joint stem, in order of preference (first alias wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "pelvis": ("hips", "hip", "pelvis", "root"),
    "hip": ("upleg", "upperleg", "thigh", "thighbend", "hip", "legupper"),
    "knee": ("leg", "lowerleg", "shin", "calf", "knee", "loleg", "leglower"),
    "ankle": ("foot", "ankle"),
    "foot": ("toebase", "toes", "toe", "ball", "toe0"),
    "collar": ("shoulder", "clavicle", "collar"),
    "shoulder": ("arm", "upperarm", "uparm", "shldrbend", "shldr", "armupper"),
    "elbow": ("forearm", "lowerarm", "loarm", "forearmbend", "elbow", "armlower"),
    "wrist": ("hand", "wrist"),
    "neck": ("neck", "neck1", "neck01", "necklower", "necktwist01"),
    "head": ("head",),
}


def normalise_bone_name(name: str) -> tuple[str, str]:
    """(side, core): side 'L', 'R' or ''; core is lower-case without separators, prefixes or side."""
    text = name.rsplit(":", 1)[-1].rsplit("|", 1)[-1]
    words = [word for word in _SEPARATORS.split(text) if word]
    # CamelCase words split too, so "LeftUpLeg" reads as left + upleg and "lShldrBend" as l + shldrbend.
    split: list[str] = []
    for word in words:
        split += re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+|[A-Z]", word) or [word]
    lowered = [word.lower() for word in split]
    side = ""
    kept: list[str] = []
    for index, word in enumerate(lowered):
        if word in ("left", "l") and not side:
            side = "L"
            continue
        if word in ("right", "r") and not side:
            side = "R"
            continue
        if word in ("c", "x", "m", "center", "mid") and index in (0, len(lowered) - 1) and len(lowered) > 1:
            continue
        kept.append(word)
    while kept and "".join(kept[:2]) in _KNOWN_PREFIXES and len(kept) > 2:
        kept = kept[2:]
    while kept and kept[0] in _KNOWN_PREFIXES and len(kept) > 1:
        kept = kept[1:]
    while kept and kept[-1] in _SIDE_FREE_SUFFIXES and len(kept) > 1:
        kept = kept[:-1]
    return side, "".join(kept)


def _skipped(name: str) -> bool:
    words = {word.lower() for word in _SEPARATORS.split(name)}
    return bool(words & set(_SKIP_WORDS)) or name.lower().startswith(("mch-", "org-", "vis_", "wgt"))


def guess_mapping(bone_names: Sequence[str], parents: Mapping[str, str | None]) -> BoneMapping:
    """Best-effort mapping by name for a rig no preset matches; spine and neck chains come from the
    hierarchy between the pelvis and the head. Joints it cannot place map to nothing (shown as
    missing in the panel, where the user completes them)."""
    normalised = {name: normalise_bone_name(name) for name in bone_names if not _skipped(name)}

    def find(stem: str, side: str) -> str | None:
        for alias in ALIASES[stem]:
            candidates = [name for name, (s, core) in normalised.items() if s == side and core == alias]
            if candidates:
                return min(candidates, key=lambda name: (_depth(name, parents), len(name)))
        return None

    joints: dict[str, tuple[str, ...]] = {joint: () for joint in BODY_JOINTS}
    pelvis = find("pelvis", "")
    head = find("head", "")
    if pelvis:
        joints["pelvis"] = (pelvis,)
    if head:
        joints["head"] = (head,)
    for side, prefix in (("L", "left_"), ("R", "right_")):
        for stem in ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist"):
            found = find(stem, side)
            if found and found not in joints.get("pelvis", ()):
                joints[prefix + stem] = (found,)
    # Spine and neck: the bones strictly between the pelvis and the head, split by name into neck
    # bones and spine bones, and the spine spread over SMPL's three spine joints.
    if pelvis and head:
        path = _path_between(pelvis, head, parents)
        neck = [name for name in path if "neck" in normalise_bone_name(name)[1]]
        spine = [name for name in path if name not in neck]
        if neck:
            joints["neck"] = tuple(neck)
        elif spine:
            joints["neck"] = (spine.pop(),)
        for joint, chunk in zip(("spine1", "spine2", "spine3"), _split_three(spine)):
            joints[joint] = tuple(chunk)
    return BoneMapping(joints, "guessed", optional=frozenset({"left_foot", "right_foot", "spine1", "spine2",
                                                              "spine3", "left_collar", "right_collar"}))


def _depth(name: str, parents: Mapping[str, str | None]) -> int:
    depth = 0
    while parents.get(name) is not None and depth < 1000:
        name = parents[name]  # type: ignore[assignment]
        depth += 1
    return depth


def _path_between(ancestor: str, descendant: str, parents: Mapping[str, str | None]) -> list[str]:
    """Bones strictly between `ancestor` and `descendant` in the hierarchy, top first ([] if unrelated)."""
    path: list[str] = []
    current = parents.get(descendant)
    while current is not None and current != ancestor and len(path) < 1000:
        path.append(current)
        current = parents.get(current)
    return list(reversed(path)) if current == ancestor else []


def _split_three(chain: list[str]) -> list[list[str]]:
    """A chain spread over three joints as evenly as possible, the top joint taking the remainder last."""
    if not chain:
        return [[], [], []]
    if len(chain) < 3:
        return [chain[:1], [], chain[1:]] if len(chain) == 2 else [[], [], chain]
    base, extra = divmod(len(chain), 3)
    sizes = [base + (1 if index < extra else 0) for index in range(3)]
    out, start = [], 0
    for size in sizes:
        out.append(chain[start:start + size])
        start += size
    return out


def mapping_for(bone_names: Sequence[str], parents: Mapping[str, str | None], preset: str = "auto",
                humanoid: Mapping[str, str] | None = None) -> BoneMapping:
    """The mapping for a rig: the named preset, the detected one ('auto'), or a name-based guess."""
    if preset not in ("auto", "", "AUTO"):
        try:
            chosen = presets()[preset]
        except KeyError:
            raise MappingError(f"unknown rig preset {preset!r}; known: auto, {', '.join(presets())}") from None
        return preset_mapping(chosen, bone_names, humanoid)
    found = find_preset(bone_names, humanoid)
    if found is not None:
        return preset_mapping(found, bone_names, humanoid)
    return guess_mapping(bone_names, parents)


# --- mapping files -------------------------------------------------------------------------------

def mapping_to_json(mapping: BoneMapping) -> str:
    """A mapping file: {"format": ..., "preset": ..., "root_bone": ..., "joints": {joint: [bones]}}."""
    return json.dumps({
        "format": MAPPING_FORMAT, "preset": mapping.preset, "root_bone": mapping.root_bone,
        "joints": {joint: list(mapping.joints.get(joint, ())) for joint in BODY_JOINTS},
        "free_direction": sorted(mapping.free_direction),
        "properties": [{"bone": s.bone, "name": s.name, "value": s.value} for s in mapping.properties],
    }, indent=2) + "\n"


def mapping_from_json(text: str, source: str) -> BoneMapping:
    """Read a mapping file (MappingError names `source` and what is wrong)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("joints"), dict):
        raise MappingError(f"{source}: a mapping file needs a 'joints' object of SMPL joint -> bone names")
    _check_joints(data["joints"], source)
    joints = {joint: _chain(value, source, joint) for joint, value in data["joints"].items()}
    try:
        properties = tuple(PropertySetting(str(item["bone"]), str(item["name"]), float(item["value"]))
                           for item in data.get("properties", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise MappingError(f"{source}: 'properties' entries need bone, name and a number value ({exc})") from None
    return BoneMapping(joints, str(data.get("preset", "custom")), str(data.get("root_bone", "") or ""),
                       frozenset(data.get("free_direction", [])), properties)


def load_mapping_file(path: str | Path) -> BoneMapping:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping file ({exc.strerror or exc})") from None
    return mapping_from_json(text, str(path))
