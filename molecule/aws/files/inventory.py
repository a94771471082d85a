"""Prints `ansible-inventory -i inventories/aws --list` as plain JSON.

ansible-core 2.19 marks values coming from inventory plugins as unsafe ({"__ansible_unsafe": value}
in --list output), which the from_json filter refuses; this unwraps them.
Usage: python inventory.py ANSIBLE_INVENTORY_BINARY   (run in the project directory)
"""

import json
import subprocess
import sys


def unwrap(value):
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


listing = subprocess.run([sys.argv[1], "-i", "inventories/aws", "--list"], check=True, capture_output=True, text=True)
print(json.dumps(unwrap(json.loads(listing.stdout))))
