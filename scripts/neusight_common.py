"""Shared helpers of the NeuSight experiments (scripts/neusight_*.py).

Where NeuSight's source is found, in this order:
  1. $OUTRUN_NEUSIGHT: a NeuSight checkout (the folder holding `neusight/` and `scripts/`);
  2. the copy scripts/install-test-tools.sh unpacks from ../shared/vendor/neusight-6945927.tar.gz
     (SHA-256 checked) into ${XDG_CACHE_HOME:-~/.cache}/outrun/neusight-<digest16>/NeuSight;
  3. ~/neusight, where the experiments' GitHub setup steps clone sitar-lab/NeuSight at the pinned
     commit.
The package is imported from that folder (sys.path), not installed: its setup.py pulls
torchvision and more that the experiments do not use.
"""

import hashlib
import os
import sys
from pathlib import Path

NEUSIGHT_COMMIT = "6945927d9afcca2b9daf021f8395e53edc5b4eef"
TARBALL_SHA256 = "77d001a625c88b5cfd6382a812c004b0953dc98e18794e3671e3340b1a3d2ed0"

ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "outrun" / f"neusight-{TARBALL_SHA256[:16]}"


# Computed once, before import_neusight points HOME elsewhere.
CACHE = cache_dir()


def neusight_root() -> Path:
    """The NeuSight source folder, or exit with where it was looked for."""
    tried = []
    env = os.environ.get("OUTRUN_NEUSIGHT")
    candidates = [Path(env)] if env else []
    candidates += [CACHE / "NeuSight", Path.home() / "neusight"]
    for c in candidates:
        tried.append(str(c))
        if (c / "neusight" / "__init__.py").is_file() and (c / "scripts" / "asplos").is_dir():
            return c.resolve()
    sys.exit(
        "NeuSight source not found (tried: " + ", ".join(tried) + "); "
        "scripts/install-test-tools.sh unpacks it, or set OUTRUN_NEUSIGHT"
    )


def source_label(root: Path) -> str:
    """Where the source came from, for the rows' provenance."""
    if root == (CACHE / "NeuSight").resolve():
        return f"tarball sha256:{TARBALL_SHA256[:16]}"
    head = root / ".commit"
    if head.is_file():
        return f"git {head.read_text().strip()[:12]}"
    return f"folder {root}"


def import_neusight(root: Path, home: Path):
    """Imports NeuSight from `root`, its dataset cache pointed at `home`/.cache/neusight.

    NeuSight caches every prepared dataset under Path.home()/.cache/neusight, keyed by the
    file's path, and never refreshes it: HOME is pointed at a folder of this run first.
    """
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(home)
    sys.path.insert(0, str(root))
    import neusight  # noqa: F401  (imported for its side effect on sys.modules)

    return neusight


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
