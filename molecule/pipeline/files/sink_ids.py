#!/usr/bin/env python3
"""Prints, as JSON, the distinct tweet ids under MARKER found in the consumer's JSON-lines files."""

import glob
import json
import sys

marker, pattern = sys.argv[1], sys.argv[2]
ids = set()
for path in glob.glob(pattern):
    with open(path, encoding="utf-8") as f:
        for line in f:
            tweet_id = json.loads(line).get("tweet", {}).get("id", "")
            if tweet_id.startswith(marker + "-"):
                ids.add(tweet_id)
print(json.dumps(sorted(ids)))
