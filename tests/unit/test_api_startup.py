"""What a serving API process does once it has started (api/app.py)."""

from __future__ import annotations

import gc

from api.app import freeze_startup_heap


def test_the_startup_heap_is_frozen_out_of_full_collections():
    before = gc.get_freeze_count()
    scanned_by_a_full_collection = len(gc.get_objects(generation=2))
    try:
        freeze_startup_heap()
        # Every object alive now (this module, the app's modules) is in the permanent
        # generation, which no collection scans.
        assert gc.get_freeze_count() - before >= scanned_by_a_full_collection
        assert len(gc.get_objects(generation=2)) < scanned_by_a_full_collection // 100
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
