#!/usr/bin/env python3
"""Prints, as JSON, the tweet ids the consumer's JSON-lines files hold for one check.

usage: sink_ids.py SELECTOR PATTERN [COUNT]
SELECTOR is a marker (ids "MARKER-...") or "@FILE", a JSON list of exact ids. The output is
{"ids": [distinct ids, sorted], "duplicates": extra copies beyond the first of each id}; with COUNT
(a marker's ids MARKER-000000 on, as make_tweets.py writes them) a summary instead, for big sets:
{"found", "missing", "missing_sample", "unexpected", "duplicates"}.
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
duplicates = sum(copies.values()) - len(copies)
if len(sys.argv) > 3:
    expected = {f"{selector}-{i:06d}" for i in range(int(sys.argv[3]))}
    missing = sorted(expected - copies.keys())
    print(json.dumps({
        "found": len(copies), "missing": len(missing), "missing_sample": missing[:10],
        "unexpected": len(copies.keys() - expected), "duplicates": duplicates,
    }))
else:
    print(json.dumps({"ids": sorted(copies), "duplicates": duplicates}))
