"""The GPU worker: Dramatiq actors, the progress middleware and the imaging pipeline."""
