#!/usr/bin/env python3
"""Prints how many tweets the producer spool at PATH holds (read-only; -1 if there is none yet)."""

import os
import sqlite3
import sys

path = sys.argv[1]
if not os.path.exists(path):
    print(-1)
else:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        print(db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])
