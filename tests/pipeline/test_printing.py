"""Printed pieces from a label map: hemispheres with flat cut faces, hollow shells, print size,
3MF, and the checks a slicer makes, on a brain built from nilearn's MNI152 tissue maps (2 mm)."""

from __future__ import annotations

import itertools
import json
import locale
import logging
from pathlib import Path

import fill_voids
import nibabel as nib
import numpy as np
import pytest

from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.meshing import printing
from gpu_worker.pipeline.meshing.measure import flatness, wall_thickness
from gpu_worker.pipeline.meshing.midline import find_midline
from gpu_worker.pipeline.meshing.pieces import PieceParams
from gpu_worker.pipeline.meshing.printing import PrintRequest, build_pieces, piece_report
from gpu_worker.pipeline.meshing.readers import read_glb, read_stl
from gpu_worker.pipeline.meshing.reuse import earlier_pieces
from gpu_worker.pipeline.meshing.surface import check_mesh
from gpu_worker.pipeline.meshing.threemf import read_3mf
from gpu_worker.pipeline.types import StructureSpec
from tests.pipeline.conftest import nilearn_map

NAMES = {0: "background", 1: "csf", 2: "grey_matter", 3: "white_matter", 4: "ventricles"}
SPECS = (
    StructureSpec("brain", (2, 3, 4)),
    StructureSpec("white_matter", (3,)),
    StructureSpec("ventricles", (4,), keep_largest=False),
)
ALL = ("brain", "left_hemisphere", "right_hemisphere", "white_matter", "ventricles")
PARAMS = PieceParams(target_triangles=30_000, smoothing_iterations=10)


@pytest.fixture(scope="module")
def mni_labels() -> tuple[np.ndarray, np.ndarray]:
    """A tissue label map from nilearn's MNI152 grey and white matter maps, at 2 mm."""
    grey = nib.load(str(nilearn_map("gm")))
    white = np.asarray(nib.load(str(nilearn_map("wm"))).dataobj, dtype=np.float32)[::2, ::2, ::2]
    gm = np.asarray(grey.dataobj, dtype=np.float32)[::2, ::2, ::2]
    affine = grey.affine.copy()
    affine[:3, :3] *= 2
    brain = gm + white > 0.5
    labels = np.zeros(gm.shape, np.uint8)
    labels[brain & (gm >= white)] = 2
    labels[brain & (white > gm)] = 3
    labels[fill_voids.fill(brain) & ~brain] = 4  # cavities the tissue encloses: ventricles
    return labels, affine


def make(
    labels_affine, out: Path | None, plane=None, earlier=None, processes=1, **request
) -> object:
    labels, affine = labels_affine
    request.setdefault("formats", ("stl", "3mf"))
    request.setdefault("params", PARAMS)
    return build_pieces(
        labels,
        affine,
        NAMES,
        SPECS,
        PrintRequest(**request),
        out,
        processes=processes,
        plane=plane,
        earlier=earlier,
    )


@pytest.fixture(scope="module")
def solid(mni_labels, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("solid")
    return make(mni_labels, out, structures=ALL, formats=("stl", "glb", "3mf")), out


@pytest.fixture(scope="module")
def hollow(mni_labels, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("hollow")
    result = make(
        mni_labels,
        out,
        structures=("brain", "left_hemisphere", "right_hemisphere", "white_matter"),
        hollow_mm=2.0,
        longest_side_mm=120.0,
    )
    return result, out


def test_every_piece_is_closed_manifold_and_outward_in_its_files(solid, hollow) -> None:
    for result, out in (solid, hollow):
        assert {p.name for p in result.pieces} >= {"brain", "left_hemisphere", "right_hemisphere"}
        for piece in result.pieces:
            assert piece.quality.ok, piece.name
            quality = check_mesh(read_stl(out / piece.files["stl"]))
            assert quality.ok, piece.name


def test_hemispheres_are_alike_apart_and_flat_where_cut(solid, mni_labels) -> None:
    result, out = solid
    plane = result.plane
    assert plane is not None
    # the MNI152 template is symmetric about x = 0
    assert abs(plane.normal[0]) > 0.999 and abs(plane.offset_mm) < 2.0
    pieces = {p.name: p for p in result.pieces}
    left, right = pieces["left_hemisphere"], pieces["right_hemisphere"]
    assert (
        abs(left.material_ml - right.material_ml) / max(left.material_ml, right.material_ml) < 0.1
    )
    normal = np.asarray(plane.normal)
    for piece, side in ((left, -1), (right, 1)):
        mesh = read_stl(out / piece.files["stl"])
        depth = side * (mesh.vertices @ normal - plane.offset_mm)
        # every vertex on its own side, past half the gap: the pieces cannot intersect
        assert depth.min() >= 0.2 - 1e-3
        on_cut = np.abs(depth - 0.2) < 1e-3
        cut_faces = on_cut[mesh.faces].all(axis=1)
        corners = mesh.vertices[mesh.faces[cut_faces]]
        area = (
            0.5
            * np.linalg.norm(
                np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
            ).sum()
        )
        assert area > 3000  # mm²: a real cut face, not a sliver
        fitted, deviation = flatness(corners.reshape(-1, 3))
        assert deviation <= 0.5
        assert abs(abs(fitted @ normal) - 1) < 1e-3
        # the cut face's normals point at the other hemisphere
        assert (mesh.face_normals()[cut_faces] @ normal * side < -0.99).mean() > 0.99
    assert left.print_size_mm[1] == pytest.approx(pieces["brain"].print_size_mm[1], rel=0.05)


def test_midline_is_found_in_a_tilted_head(mni_labels) -> None:
    labels, affine = mni_labels
    angle = np.deg2rad(8.0)  # the head turned 8 degrees about the vertical axis
    turn = np.eye(4)
    turn[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    plane = find_midline(labels, turn @ affine)
    expected = turn[:3, :3] @ np.array([1.0, 0, 0])
    assert abs(np.asarray(plane.normal) @ expected) > np.cos(np.deg2rad(1.5))


def test_hollow_walls_are_at_least_what_was_asked(hollow) -> None:
    result, out = hollow
    for piece in result.pieces:
        assert piece.hollow and piece.cavities >= 1, piece.name
        mesh = read_stl(out / piece.files["stl"])
        walls = wall_thickness(mesh, samples=2000)
        assert np.percentile(walls, 1) >= 2.0 - 0.2, piece.name
        # the material volume reported is the shell's, as the file holds it
        assert piece.material_ml == pytest.approx(mesh.signed_volume() / 1000.0, rel=1e-3)
        solid_ml = piece.volume_ml * result.scale**3
        assert piece.material_ml < (0.6 if piece.name == "brain" else 0.95) * solid_ml


def test_a_hollow_piece_meshed_in_two_helpers_is_the_one_meshed_in_one(
    mni_labels, tmp_path, monkeypatch
) -> None:
    split = []
    real = printing._split_in_two
    monkeypatch.setattr(printing, "_split_in_two", lambda *a: split.append(real(*a)) or split[-1])
    # Given two helpers and one hollow piece, its outer surface and cavity are made side by side
    apart = make(mni_labels, tmp_path / "two", processes=2, structures=("brain",), hollow_mm=2.0)
    together = make(mni_labels, tmp_path / "one", structures=("brain",), hollow_mm=2.0)
    assert split == [{0}, set()]

    # Then the piece, its files and its figures are the same as one helper makes them
    (a,), (b,) = apart.pieces, together.pieces
    assert a.hollow and a.quality.ok
    figures = ("cavities", "triangles", "vertices", "material_ml", "max_wall_mm", "print_size_mm")
    assert [getattr(a, f) for f in figures] == [getattr(b, f) for f in figures]
    assert not a.reused
    assert a.meshed_as == b.meshed_as
    assert (tmp_path / "two" / "brain.stl").read_bytes() == (
        tmp_path / "one" / "brain.stl"
    ).read_bytes()


def test_print_size_is_what_was_asked(solid, hollow, mni_labels) -> None:
    result, _ = hollow
    union = np.max([p.print_size_mm for p in result.pieces], axis=0)
    assert max(union) == pytest.approx(120.0, rel=0.01)
    half = make(mni_labels, None, structures=("brain",), scale_percent=50.0)
    life = {p.name: p for p in solid[0].pieces}["brain"]
    assert half.scale == 0.5
    assert np.allclose(
        half.pieces[0].print_size_mm, np.asarray(life.print_size_mm) * 0.5, rtol=0.01
    )


def test_3mf_holds_each_piece_with_its_colour(solid) -> None:
    result, out = solid
    objects = read_3mf(out / result.files["3mf"])
    assert [o.name for o in objects] == [p.name for p in result.pieces]
    assert len({o.color for o in objects}) == len(objects)  # one colour each
    for read, piece in zip(objects, result.pieces, strict=True):
        assert check_mesh(read.mesh).ok
        assert read.mesh.signed_volume() / 1000.0 == pytest.approx(piece.material_ml, rel=1e-3)


def test_3mf_places_pieces_on_the_bed_hemispheres_flat_side_down(solid) -> None:
    result, out = solid
    spans = []
    for read in read_3mf(out / result.files["3mf"]):
        assert np.allclose(read.rotation @ read.rotation.T, np.eye(3), atol=1e-5)  # no scaling
        placed = read.mesh.vertices @ read.rotation.T + read.shift
        assert placed[:, 2].min() == pytest.approx(0.0, abs=1e-3)  # resting on the bed
        spans.append((placed[:, 0].min(), placed[:, 0].max()))
        if read.name.endswith("_hemisphere"):  # lying on its flat cut face
            bottom = (placed[read.mesh.faces][:, :, 2] < 1e-3).all(axis=1)
            corners = placed[read.mesh.faces[bottom]]
            area = 0.5 * np.linalg.norm(
                np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
            )
            assert area.sum() > 3000
    spans.sort()
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))  # side by side, apart


def test_walls_thicker_than_every_piece_are_refused(mni_labels) -> None:
    with pytest.raises(InputError) as refused:
        make(mni_labels, None, structures=("white_matter",), hollow_mm=20.0)
    assert refused.value.code == "invalid_option"
    assert "hollow_mm 20" in refused.value.message


def test_the_page_gets_an_stl_of_every_piece_even_when_stl_was_not_chosen(
    mni_labels, tmp_path: Path
) -> None:
    result = make(mni_labels, tmp_path, structures=("ventricles", "white_matter"), formats=("glb",))
    for piece in result.pieces:
        assert piece.files == {"glb": f"{piece.name}.glb"}
        assert not (tmp_path / f"{piece.name}.stl").exists()  # not in the zip: not asked for
        assert check_mesh(read_stl(tmp_path / "files" / f"{piece.name}.stl")).ok


def _earlier(result, folder: Path):
    """The re-make's lookup over ``result``'s files, its report read back from JSON."""
    report = json.loads(json.dumps({"structures": [piece_report(p) for p in result.pieces]}))
    return earlier_pieces(folder, report)


def test_a_remake_reuses_the_pieces_it_would_mesh_the_same_way(mni_labels, tmp_path) -> None:
    """Given pieces meshed at life size as STL + GLB, when they are made again at half size with
    a wall and one more piece, then the outer surfaces are read back from the files (same
    triangles, scaled), the new piece and the cavities are meshed, and every piece is sound."""
    first_out = tmp_path / "first"
    asked = {"structures": ("brain", "left_hemisphere"), "formats": ("stl", "glb")}
    first = make(mni_labels, first_out, **asked)
    again = tmp_path / "again"
    second = make(
        mni_labels,
        again,
        plane=first.plane,
        earlier=_earlier(first, first_out),
        structures=("brain", "left_hemisphere", "white_matter"),
        scale_percent=50,
        hollow_mm=1.0,
    )
    by_name = {p.name: p for p in second.pieces}
    assert {n: p.reused for n, p in by_name.items()} == {
        "brain": True,
        "left_hemisphere": True,
        "white_matter": False,
    }
    assert all(p.hollow and p.quality.ok for p in second.pieces)
    for name in ("brain", "left_hemisphere"):
        before = read_glb(first_out / f"{name}.glb")
        after = read_stl(again / f"{name}.stl")
        outer = after.vertices[np.unique(after.faces[: before.n_triangles])]
        assert after.n_triangles > before.n_triangles  # the cavity's triangles come on top
        assert np.allclose(
            np.sort(outer, axis=0), np.sort(before.vertices * 0.5, axis=0), atol=1e-3
        )


def test_a_remake_with_other_meshing_options_meshes_again(mni_labels, tmp_path) -> None:
    first = make(mni_labels, tmp_path / "first", structures=("brain",), formats=("glb",))
    other = PieceParams(target_triangles=20_000, smoothing_iterations=10)
    earlier = _earlier(first, tmp_path / "first")
    second = make(
        mni_labels, tmp_path / "again", earlier=earlier, structures=("brain",), params=other
    )
    assert [(p.reused, p.quality.ok) for p in second.pieces] == [(False, True)]
    assert second.pieces[0].triangles <= 20_000


def test_a_damaged_earlier_file_is_meshed_again(mni_labels, tmp_path, caplog) -> None:
    first = make(mni_labels, tmp_path / "first", structures=("brain",), formats=("glb",))
    (tmp_path / "first" / "brain.glb").write_bytes(b"glTF" + b"\0" * 40)
    earlier = _earlier(first, tmp_path / "first")
    with caplog.at_level(logging.WARNING):
        second = make(mni_labels, tmp_path / "again", earlier=earlier, structures=("brain",))
    assert [(p.reused, p.quality.ok) for p in second.pieces] == [(False, True)]
    assert "meshing it again" in caplog.text


def test_writing_and_reading_a_3mf_leaves_the_process_locale_as_it_was(solid) -> None:
    """lib3mf sets the C locale; left so, Python would read and write text as ASCII after."""
    result, out = solid
    before = locale.setlocale(locale.LC_ALL)
    read_3mf(out / result.files["3mf"])
    assert locale.setlocale(locale.LC_ALL) == before


def test_a_remake_cuts_hemispheres_from_the_brain_it_reuses(solid, mni_labels, tmp_path) -> None:
    """Given a job that made the brain alone, when hemispheres are asked for, then each is cut
    from that brain's surface (not meshed again): closed, flat where cut, apart, alike."""
    first = make(mni_labels, tmp_path / "first", structures=("brain",), formats=("glb",))
    result = make(
        mni_labels,
        tmp_path / "again",
        plane=solid[0].plane,
        earlier=_earlier(first, tmp_path / "first"),
        structures=("left_hemisphere", "right_hemisphere"),
        formats=("stl",),
    )
    assert [(p.cut_from_brain, p.quality.ok) for p in result.pieces] == [(True, True)] * 2
    left, right = (read_stl(tmp_path / "again" / p.files["stl"]) for p in result.pieces)
    assert check_mesh(left).ok and check_mesh(right).ok
    plane = result.plane
    normal = np.asarray(plane.normal)
    for mesh, side in ((left, -1), (right, 1)):
        depth = side * (mesh.vertices @ normal - plane.offset_mm)
        assert depth.min() >= 0.2 - 1e-3  # half the 0.4 mm gap: the two cannot touch
        face = mesh.vertices[np.abs(depth - 0.2) < 1e-3]
        assert len(face) > 100 and flatness(face)[1] < 0.01
    volumes = [p.material_ml for p in result.pieces]
    assert abs(volumes[0] - volumes[1]) / max(volumes) < 0.1
