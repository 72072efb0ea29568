"""The imaging pipeline: MRI volume in, meshes + segmentation + report out.

Steps, each a plain function in its own module, each reporting progress through
:func:`gpu_worker.progress.report_fraction`: :mod:`.load` -> :mod:`.preprocess` -> :mod:`.segment`
-> :mod:`.postprocess` -> :mod:`.meshing` -> :mod:`.export` -> :mod:`.package`, run in order by
:func:`.run.run_pipeline`. What one step hands the next is in :mod:`.types`.

This package re-exports nothing: import a name from the module that defines it, so that a step
(or a meshing helper process, which imports only :mod:`.meshing`) loads only what it uses.
"""
