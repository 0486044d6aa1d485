"""The test clock: the one moment the suite's worlds are built at and its
requests are made at, unless a test moves it on purpose (and names the
moment for what it is, e.g. tests/test_sync.py's import during a term)."""

from __future__ import annotations

import datetime as dt

NOW = dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)
