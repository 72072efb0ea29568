"""Step 5, "Generating meshes": label map in, one closed surface per structure out, as files.

Torch-free by design: numpy, SciPy, VTK, fast-simplification, cc3d and the writers only, so the
helper processes that mesh structures side by side (:mod:`.mesh_pool`) never load torch and
never touch CUDA. A test holds this (``tests/pipeline/test_mesh_pool.py``).

* :mod:`.build` — structures of a segmentation -> meshed, checked and written files;
* :mod:`.mesh` — marching cubes, Taubin smoothing, decimation, cleanup, voxel -> world mm;
* :mod:`.surface` — the :class:`~.surface.Mesh` arrays and the checks a slicer makes;
* :mod:`.repair` — local repair of what decimation can pinch or fold;
* :mod:`.writers` — STL, OBJ, PLY and GLB files;
* :mod:`.mesh_pool` — the helper processes.
"""
