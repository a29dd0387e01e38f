"""Where the tests find the shared Curtois benchmark (`../shared/bench/curtois` beside the
repository, or ROTA_CURTOIS_DIR). A missing benchmark fails the tests that need it: it is
never a reason to skip them."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CURTOIS_DIR = Path(
    os.environ.get("ROTA_CURTOIS_DIR") or REPO.parent / "shared" / "bench" / "curtois"
)


def curtois_instance(number: int) -> Path:
    path = CURTOIS_DIR / f"Instance{number}.txt"
    assert path.is_file(), f"no Curtois benchmark at {path}; set ROTA_CURTOIS_DIR"
    return path
