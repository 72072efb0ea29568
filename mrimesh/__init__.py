"""The job contract shared by the API and the GPU worker.

Everything both processes must agree on lives here: configuration, the job status enum and step
names, Redis key builders, the job record, the waiting line, the timing store and the ETA model.
Nothing in this package imports torch, MONAI or open3d.
"""

__version__ = "0.1.0"
