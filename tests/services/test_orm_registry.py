"""Every process's entry point knows every table, whatever part of the domain it imports.

A flush orders its statements by the foreign keys of the tables involved; a table its
process never imported is a ``NoReferencedTableError`` at the first flush (the worker, which
imports no case code, failed every batch that raised an alert: ``alerts.case_id`` refers to
``cases``). Each entry point is imported alone, in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# The worker process is built by amlscreen.runtime, the API by services.app, `up` runs both.
ENTRY_POINTS = ["amlscreen.runtime", "amlscreen.up", "services.app"]

CHECK = """
import importlib, sys
importlib.import_module(sys.argv[1])
from services.db import Base
tables = Base.metadata.sorted_tables  # resolves every foreign key
print(len(tables))
"""


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_an_entry_point_alone_resolves_every_foreign_key(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, module], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) >= 20
