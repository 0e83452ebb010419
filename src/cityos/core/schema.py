"""Imports every context's tables so that `metadata` is complete (migrations, tests).

A context that adds a store.py adds its module here.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from cityos.core.db import metadata

STORE_MODULES = [
    "cityos.core.store",
    "cityos.geo.store",
]


def load_all() -> MetaData:
    for name in STORE_MODULES:
        importlib.import_module(name)
    return metadata
