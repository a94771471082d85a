#!/usr/bin/env python3
"""Prints, as JSON, the tweet ids the consumer's JSON-lines files hold for one check.

usage: sink_ids.py SELECTOR PATTERN
SELECTOR is a marker (ids "MARKER-...") or "@FILE", a JSON list of exact ids. The output is
{"ids": [distinct ids, sorted], "duplicates": extra copies beyond the first of each id}.
"""

import glob
import json
import sys
from collections import Counter

selector, pattern = sys.argv[1], sys.argv[2]
if selector.startswith("@"):
    with open(selector[1:], encoding="utf-8") as f:
        wanted = set(json.load(f))

    def selected(tweet_id: str) -> bool:
        return tweet_id in wanted
else:

    def selected(tweet_id: str) -> bool:
        return tweet_id.startswith(selector + "-")


copies: Counter[str] = Counter()
for path in glob.glob(pattern):
    with open(path, encoding="utf-8") as f:
        for line in f:
            tweet_id = json.loads(line).get("tweet", {}).get("id", "")
            if selected(tweet_id):
                copies[tweet_id] += 1
print(json.dumps({"ids": sorted(copies), "duplicates": sum(copies.values()) - len(copies)}))
