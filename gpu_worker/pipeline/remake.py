"""Re-make a job's printed pieces with new print options, without segmenting again.

A finished job keeps its label map (``files/labels.nii.gz``, working grid), its brain-only scan
and its report.json. A re-make loads the label map, meshes the pieces the new options ask for
(the midline plane is read from the old report, so hemispheres are cut exactly as before), and
writes a complete new output folder: meshes, report.json and ``files/`` (the label map and the
brain copy carried over). Seconds instead of a full run: no model, no torch. Pieces the earlier
job meshed the same way are read back from its files (:mod:`.meshing.reuse`) instead of meshed
again, so a new size, wall or format costs a rescale and a write.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from gpu_worker.pipeline.bundle import DEFAULT_BUNDLE_DIR, read_bundle
from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.export import REPORT_FILE, write_report
from gpu_worker.pipeline.meshing.midline import Plane
from gpu_worker.pipeline.meshing.printing import (
    build_pieces,
    piece_report,
    print_request,
)
from gpu_worker.pipeline.meshing.reuse import earlier_pieces
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.result_files import (
    BRAIN_FILE,
    FILES_DIR,
    LABELS_FILE,
    files_dir,
    publish,
    read_labels,
)
from gpu_worker.pipeline.types import StructureSpec
from gpu_worker.progress import clocked, step
from mrimesh.config import Settings
from mrimesh.contract import Step

logger = logging.getLogger(__name__)

#: The re-make's steps, in order (what a person reads: "Loading segmentation", "Generating
#: meshes", "Exporting"; the actor adds "Packaging").
REMAKE_STEPS = (Step.LOADING_LABELS, Step.MESHING, Step.EXPORTING, Step.PACKAGING)

#: Report sections carried over from the job a re-make starts from.
_CARRIED = (
    "input",
    "input_voxels",
    "model",
    "work_grid",
    "labels",
    "label_volumes_ml",
    "segmentation",
)


def source_report(source: Path) -> dict:
    """The report of the job in ``source`` (``files/report.json``, else ``report.json``)."""
    for path in (source / FILES_DIR / REPORT_FILE, source / REPORT_FILE):
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise InputError(
                    "The earlier result's report is damaged; upload the scan again.",
                    code="not_remakeable",
                ) from e
    raise InputError(
        "The earlier result has no report.json; upload the scan again.", code="not_remakeable"
    )


def _structures(report: dict, bundle_path: Path) -> tuple[StructureSpec, ...]:
    try:
        return read_bundle(bundle_path).structures
    except Exception:  # the report alone still says what each structure is made of
        return tuple(
            StructureSpec(s["name"], tuple(s["labels"]))
            for s in report.get("structures", [])
            if not s["name"].endswith("_hemisphere")
        )


def remake(
    source: Path,
    out_dir: Path,
    options: PipelineOptions,
    settings: Settings | None = None,
) -> dict:
    """Make the pieces ``options`` ask for from the job output in ``source`` into ``out_dir``.

    ``source`` holds ``files/labels.nii.gz`` and ``files/report.json`` (``files/brain.nii.gz``
    and the input-grid segmentation are carried over when present). Raises
    :class:`InputError` (``not_remakeable``) when it holds no label map, and
    ``invalid_option`` when the options cannot be printed from it.
    """
    settings = settings or Settings.from_env()
    source, out_dir = Path(source), Path(out_dir)
    with clocked() as clock:
        with step(Step.LOADING_LABELS):
            labels_path = source / FILES_DIR / LABELS_FILE
            if not labels_path.is_file():
                raise InputError(
                    "This result has no saved segmentation to re-make from; upload the scan again.",
                    code="not_remakeable",
                )
            earlier = source_report(source)
            labels, affine = read_labels(labels_path)
            bundle_path = (
                Path(settings.model_bundle).expanduser()
                if settings.model_bundle
                else DEFAULT_BUNDLE_DIR
            )
            structures = _structures(earlier, bundle_path)
            names = {int(k): v for k, v in (earlier.get("labels") or {}).items()}
            known = [s.name for s in structures]
            makeable = known + (["left_hemisphere", "right_hemisphere"] if "brain" in known else [])
            wanted = tuple(options.structures) if options.structures is not None else tuple(known)
            unknown = sorted(set(wanted) - set(makeable))
            if unknown:
                raise InputError(
                    f"This result cannot make {', '.join(unknown)}; it can make "
                    f"{', '.join(makeable)}.",
                    code="invalid_option",
                )
            plane_data = (earlier.get("print") or {}).get("midline_plane")
            plane = Plane.from_dict(plane_data) if plane_data else None
            out_dir.mkdir(parents=True, exist_ok=True)
        with step(Step.MESHING):
            request = print_request(options, wanted)
            printed = build_pieces(
                labels,
                affine,
                names or {0: "background"},
                structures,
                request,
                out_dir,
                settings.mesh_processes,
                plane,
                earlier=earlier_pieces(source / FILES_DIR, earlier),
            )
        with step(Step.EXPORTING):
            folder = files_dir(out_dir)
            same = source.resolve() == out_dir.resolve()
            for name in (LABELS_FILE, BRAIN_FILE):
                if (source / FILES_DIR / name).is_file() and not same:
                    shutil.copyfile(source / FILES_DIR / name, folder / name)
            # The input-grid segmentation travels in the zip when the earlier output has it.
            segmentation = source / str(earlier.get("segmentation") or "segmentation.nii.gz")
            if segmentation.is_file() and not same:
                shutil.copyfile(segmentation, out_dir / segmentation.name)
        seconds = dict(clock.seconds)
    report = {key: earlier[key] for key in _CARRIED if key in earlier}
    report.update(
        {
            "schema": earlier.get("schema", 2),
            "remade": True,
            "notes": list(earlier.get("notes", [])),
            "device": "cpu (meshing only)",
            "coordinates": earlier.get("coordinates"),
            "structures": [piece_report(p) for p in printed.pieces],
            "print": printed.summary(request),
            "print_options": {**options.print_summary(), "structures": list(wanted)},
            "files": {"labels": f"{FILES_DIR}/{LABELS_FILE}", "brain": f"{FILES_DIR}/{BRAIN_FILE}"},
            "options": {
                "formats": list(options.formats),
                "target_triangles": options.target_triangles,
                "smoothing_iterations": options.smoothing_iterations,
                "decimation": options.decimation,
                "iso_surface": options.iso_surface,
            },
            "steps": seconds,
            "total_seconds": round(sum(seconds.values()), 3),
        }
    )
    write_report(report, out_dir)
    publish(out_dir, report)
    logger.info("re-made %s in %.1f s", [p.name for p in printed.pieces], report["total_seconds"])
    return report
