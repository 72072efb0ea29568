#!/usr/bin/env bash
# Re-create web/vendor/niivue/niivue.js from the pinned npm release, and check it.
#
# The page loads niivue from web/vendor/niivue/ (committed; never a CDN at run time). This script
# is how that copy was made and how anyone can check it: it downloads the pinned tarball with
# `npm pack`, verifies the tarball's sha256, and copies the release's self-contained ES-module
# bundle (package/dist/index.js, every dependency inlined) byte for byte.
# Usage: scripts/vendor_niivue.sh          re-create the copy
#        scripts/vendor_niivue.sh --check  only verify the committed copy against the tarball
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.69.0
tarball_sha256=6e9a6a471b428eb3b258a0086beca9187d95e43a781a39e8a519c6da246af485
bundle_sha256=$(sed -n 's/^bundle_sha256: //p' web/vendor/niivue/VERSION)
dest=web/vendor/niivue/niivue.js

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@niivue/niivue@$version" >/dev/null)
tarball="$work/niivue-niivue-$version.tgz"
echo "$tarball_sha256  $tarball" | sha256sum --check --quiet
tar -xzf "$tarball" -C "$work" package/dist/index.js
echo "$bundle_sha256  $work/package/dist/index.js" | sha256sum --check --quiet
if [ "${1:-}" = --check ]; then
  cmp "$work/package/dist/index.js" "$dest"
  echo "vendor_niivue: $dest is @niivue/niivue $version's dist/index.js"
else
  cp "$work/package/dist/index.js" "$dest"
  echo "vendor_niivue: wrote $dest from @niivue/niivue $version"
fi
