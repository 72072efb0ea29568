#!/usr/bin/env bash
# Claim one GPU for this container, then exec the given command with CUDA_VISIBLE_DEVICES set to it.
#
#   claim-gpu.sh python -m gpu_worker.worker
#
# Why: Docker does not share GPUs out between containers. A compose device reservation with
# `count: 1` is handed to every replica as "GPU 0" (moby turns count N into device ids 0..N-1), so
# `--scale gpu_worker=4` would put four workers on one GPU. compose.gpu.yml therefore shows every
# worker all GPUs, and each worker claims one here: it takes an exclusive flock(2) on
# $GPU_LOCK_DIR/<gpu uuid>.lock, a volume all workers share, and keeps the lock open for the life of
# the worker. The kernel drops the lock when the worker's processes exit, whatever the cause, so a
# crashed container frees its GPU at once and there is nothing stale to clean up.
#
# With more replicas than GPUs, the extra workers wait here (without loading any model) and take a
# GPU as soon as one is released: a hot spare, not a second worker on a busy GPU.
#
# Environment:
#   CUDA_VISIBLE_DEVICES     if already set, the operator has pinned the device: claim nothing.
#   MRIMESH_DEVICE           "cpu" claims nothing (a CPU-only run of the worker image).
#   GPU_LOCK_DIR             where the lock files live (default /var/lib/mrimesh/gpu-locks).
#   GPU_CLAIM_RETRY_SECONDS  how long a spare waits between tries (default 30).
#   NVIDIA_SMI               the nvidia-smi to run (default nvidia-smi; tests substitute a fake).
set -euo pipefail

lock_dir="${GPU_LOCK_DIR:-/var/lib/mrimesh/gpu-locks}"
retry_seconds="${GPU_CLAIM_RETRY_SECONDS:-30}"
nvidia_smi="${NVIDIA_SMI:-nvidia-smi}"

log() { printf 'claim-gpu: %s\n' "$*" >&2; }

if (($# == 0)); then
    log "usage: claim-gpu.sh COMMAND [ARG...]"
    exit 64
fi

if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
    log "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES} is set; using it without claiming"
    exec "$@"
fi

if [[ "${MRIMESH_DEVICE:-auto}" == "cpu" ]]; then
    log "MRIMESH_DEVICE=cpu; not claiming a GPU"
    exec "$@"
fi

# UUIDs rather than indices: an index means different things to nvidia-smi (PCI bus order) and to
# CUDA (fastest first, unless CUDA_DEVICE_ORDER=PCI_BUS_ID), a UUID means one GPU to both.
if ! listing="$("${nvidia_smi}" --query-gpu=uuid --format=csv,noheader 2>&1)"; then
    log "cannot list GPUs (${nvidia_smi} failed: ${listing})."
    log "Does the container have a GPU reservation, and is the NVIDIA container toolkit installed?"
    exit 1
fi
gpus=()
while IFS= read -r line; do
    line="${line//[[:space:]]/}"
    [[ -n "${line}" ]] && gpus+=("${line}")
done <<<"${listing}"
if ((${#gpus[@]} == 0)); then
    log "no GPU visible in this container; set MRIMESH_DEVICE=cpu to run without one"
    exit 1
fi

mkdir -p "${lock_dir}"
while true; do
    for uuid in "${gpus[@]}"; do
        # fd 9 stays open across exec, so the worker itself holds the lock. '>>' so that opening
        # the file never truncates anything.
        exec 9>>"${lock_dir}/${uuid}.lock"
        if flock --exclusive --nonblock 9; then
            export CUDA_VISIBLE_DEVICES="${uuid}"
            log "claimed ${uuid} (${#gpus[@]} GPU(s) visible)"
            exec "$@"
        fi
        exec 9>&-
    done
    log "all ${#gpus[@]} GPU(s) are held by other workers; trying again in ${retry_seconds}s"
    sleep "${retry_seconds}"
done
