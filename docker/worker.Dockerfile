# syntax=docker/dockerfile:1
#
# The GPU worker image (and the janitor's): PyTorch with CUDA, MONAI, open3d.
#
# Build from the repository root (compose.gpu.yml does this):
#   docker build -f docker/worker.Dockerfile -t mrimesh/worker .
#
# CUDA versions. The torch wheel from the PyTorch index brings its own CUDA runtime, cuDNN and
# cuBLAS as pip packages (nvidia-*-cu12), so the base image only needs to provide what the NVIDIA
# container toolkit expects: the `base` flavour, not `cudnn-runtime`, which would add ~3 GB of
# libraries that torch never loads. What the base image still contributes is NVIDIA_REQUIRE_CUDA:
# the toolkit refuses to start the container on a host driver too old for that CUDA version, with a
# clear message, instead of torch failing at the first kernel. Keep CUDA_IMAGE and TORCH_CUDA on the
# same CUDA major.minor; check https://download.pytorch.org/whl/ lists torch-${TORCH_VERSION}+${TORCH_CUDA}.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu22.04

FROM ${CUDA_IMAGE}

# Must equal the torch pin in requirements/worker.txt (tests/deploy checks this).
ARG TORCH_VERSION=2.13.0
ARG TORCH_CUDA=cu128
ARG PIP_VERSION=26.3
ARG APP_UID=10001

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    CUDA_DEVICE_ORDER=PCI_BUS_ID

# Python 3.11 from the deadsnakes PPA (Ubuntu 22.04 ships 3.10; its universe python3.11 is an
# early 3.11.0). System libraries, each for a reason:
#   libgomp1            OpenMP runtime (open3d, scikit-image, torch CPU ops)
#   libusb-1.0-0 libudev1 libidn2-0 libgl1 libegl1 libx11-6
#                       linked by libOpen3D.so even for headless use: `import open3d` fails without
#                       them (read off `readelf -d libOpen3D.so.0.20`)
#   util-linux          flock(1), used by docker/claim-gpu.sh
RUN apt-get update \
 && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv \
        libgomp1 libusb-1.0-0 libudev1 libidn2-0 libgl1 libegl1 libx11-6 \
        util-linux ca-certificates \
 && apt-get purge -y --auto-remove software-properties-common gpg-agent \
 && rm -rf /var/lib/apt/lists/*

# Same uid/gid as the API image: both write to the shared data volume.
RUN groupadd --system --gid "${APP_UID}" mrimesh \
 && useradd --system --uid "${APP_UID}" --gid mrimesh --create-home --home-dir /home/mrimesh \
        --shell /usr/sbin/nologin mrimesh \
 && install -d -o mrimesh -g mrimesh /data /var/lib/mrimesh/gpu-locks

RUN python3.11 -m venv "${VIRTUAL_ENV}" \
 && pip install "pip==${PIP_VERSION}"

# Step 1 of 2: the CUDA build of torch, alone, from the PyTorch index.
#
# Why two steps and not `--extra-index-url` on requirements/worker.txt: pip treats every index as
# equal and takes the highest version it finds anywhere, for every package, so one extra index
# silently decides which torch (and numpy, pillow, ...) you get. Here torch comes from the PyTorch
# index and nothing else does (--index-url, not --extra-index-url; that index also mirrors torch's
# own dependencies: nvidia-*, triton, sympy, ...). This layer depends on the build args only, so
# the multi-GB download is cached across requirement and code changes.
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_CUDA}" \
        "torch==${TORCH_VERSION}+${TORCH_CUDA}" \
 && echo "torch==${TORCH_VERSION}+${TORCH_CUDA}" > "${VIRTUAL_ENV}/constraints.txt"

# Step 2 of 2: the rest, from PyPI. requirements/worker.txt pins `torch==2.13.0`; under PEP 440 a
# pin without a local label matches any local label, so the installed 2.13.0+cu128 already satisfies
# it and pip keeps it (no --upgrade, no --force-reinstall here: either would re-resolve torch
# against PyPI alone). The constraint file makes that a guarantee rather than a default: pip may
# only use torch==2.13.0+cu128, so if worker.txt is ever bumped to another torch, or a package
# demands one, the build fails with a resolution error instead of quietly installing another build.
# PIP_CONSTRAINT stays set, so a later `pip install` in a running container is held to it too.
ENV PIP_CONSTRAINT=/opt/venv/constraints.txt
COPY requirements/api.txt requirements/worker.txt /tmp/requirements/
RUN pip install -r /tmp/requirements/worker.txt \
 && pip check \
 && python -c "import torch; assert torch.version.cuda, 'a CPU build of torch got into the GPU image'; print('torch', torch.__version__, 'CUDA', torch.version.cuda)" \
 && python -c "import open3d, monai; print('open3d', open3d.__version__, 'monai', monai.__version__)"

WORKDIR /app
COPY mrimesh/ mrimesh/
COPY gpu_worker/ gpu_worker/
COPY models/ models/
COPY docker/healthcheck.py docker/healthcheck.py
COPY --chmod=0755 docker/claim-gpu.sh docker/claim-gpu.sh

USER mrimesh
ENV MRIMESH_DATA_DIR=/data \
    GPU_LOCK_DIR=/var/lib/mrimesh/gpu-locks

# The worker refreshes its heartbeat in Redis every few seconds once its models are loaded; this
# checks that this container's own heartbeat is fresh. The janitor overrides it (compose.gpu.yml).
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "worker"]

# claim-gpu.sh picks a GPU no other worker holds, sets CUDA_VISIBLE_DEVICES to it and execs the
# worker: one container per GPU however many the container can see (see docs/operations.md).
CMD ["/app/docker/claim-gpu.sh", "python", "-m", "gpu_worker.worker"]
