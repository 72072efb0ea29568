"""The vendored niivue is the pinned npm release, unchanged, with its licences; the page loads
nothing from another host."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
VENDOR_DIR = WEB_DIR / "vendor" / "niivue"


def recorded() -> dict[str, str]:
    """``web/vendor/niivue/VERSION`` as a mapping."""
    lines = (VENDOR_DIR / "VERSION").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def test_the_bundle_is_the_recorded_release_unchanged() -> None:
    version = recorded()
    digest = hashlib.sha256((VENDOR_DIR / "niivue.js").read_bytes()).hexdigest()
    assert version["package"] == "@niivue/niivue"
    assert digest == version["bundle_sha256"]
    assert version["tarball"].endswith(f"/niivue-{version['version']}.tgz")
    script = (WEB_DIR.parent / "scripts" / "vendor_niivue.sh").read_text()
    assert f"version={version['version']}\n" in script
    assert f"tarball_sha256={version['tarball_sha256']}\n" in script


def test_the_licences_travel_with_it() -> None:
    assert "BSD 2-Clause License" in (VENDOR_DIR / "LICENSE").read_text()
    third_party = (VENDOR_DIR / "THIRD_PARTY_LICENSES").read_text()
    for package in ("gl-matrix", "nifti-reader-js", "fflate", "zarrita", "numcodecs"):
        assert f"\n{package}\n" in third_party, package


def test_our_page_loads_nothing_from_another_host() -> None:
    ours = [WEB_DIR / "index.html", *sorted((WEB_DIR / "js").glob("*.js"))]
    for path in ours:
        text = path.read_text()
        assert not re.search(r"""(src|href|import\s*\(?)\s*=?\s*["']https?://""", text), path
        assert not re.search(r"""from\s+["']https?://""", text), path
    imports = re.findall(
        r"""import\(\s*["']([^"']+)["']""", (WEB_DIR / "js" / "scenes.js").read_text()
    )
    assert imports == ["../vendor/niivue/niivue.js"]
