#!/usr/bin/env bash
# Install what mrimesh needs on a fresh Debian/Ubuntu machine: system packages, then a virtualenv
# with the pinned requirements. Usage: scripts/bootstrap.sh run|test
# Safe to run again: it installs only what is missing or whose pins changed.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
python=${PYTHON:-python3}
venv=.venv

need_pkgs=(redis-server libusb-1.0-0 libgomp1)
if [ "$mode" = test ]; then
  # prusa-slicer and admesh: the slicer tests check the printed pieces as a real slicer reads them
  need_pkgs+=(chromium prusa-slicer admesh)
  requirements=requirements/test.txt
else
  requirements=requirements/worker.txt
fi

missing=()
for pkg in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing system packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
    echo "bootstrap: please install these Debian/Ubuntu packages first: ${missing[*]}" >&2
    echo "           e.g. sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "bootstrap: could not install ${missing[*]}; install them by hand and retry" >&2
    exit 1
  fi
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: Python 3.11 or newer is needed (found $("$python" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv"
  "$python" -m venv "$venv"
fi
stamp="$venv/.installed-$(basename "$requirements" .txt)"
digest=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "bootstrap: installing Python packages from $requirements (first run takes a few minutes)"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r "$requirements"
  echo "$digest" > "$stamp"
fi
