#!/usr/bin/env python3
"""Writes COUNT tweets (X API v2 objects) with unique ids under MARKER to OUT, as NDJSON.

usage: make_tweets.py MARKER COUNT OUT [TEXT_BYTES]   (TEXT_BYTES pads each text to that size)
"""

import json
import sys

marker, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text_bytes = int(sys.argv[4]) if len(sys.argv) > 4 else 0
with open(out, "w", encoding="utf-8") as f:
    for i in range(count):
        text = f"verify tweet {i} of {count} #kafka"
        tweet = {
            "id": f"{marker}-{i:06d}",
            "text": text.ljust(text_bytes, "x"),
            "author_id": "42",
            "created_at": "2026-11-26T00:00:00.000Z",
            "lang": "en",
        }
        f.write(json.dumps(tweet) + "\n")
