#!/usr/bin/env python3
"""Prints, as JSON, the places on this host that expose a secret (FIND_SECRET_B64, base64).

Looked at: every process's command line and environment (what `ps e` shows), `systemctl show` of
the pipeline's units and the manager's environment, the whole journal, and every world-readable
regular file under the usual writable trees. The secret's own files (mode 0640) do not count.
"""

import base64
import json
import os
import stat
import subprocess

secret = base64.b64decode(os.environ["FIND_SECRET_B64"])
found: list[str] = []
checked = {"processes": 0, "files": 0}

for pid in filter(str.isdigit, os.listdir("/proc")):
    for part in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{part}", "rb") as f:
                if secret in f.read():
                    found.append(f"/proc/{pid}/{part}")
        except OSError:
            continue
    checked["processes"] += 1

units = ["tweet-producer", "tweet-consumer", "tweet-x-api-double"]
for argv in (["systemctl", "show", *units], ["systemctl", "show-environment"],
             ["journalctl", "--no-pager", "-o", "verbose"]):
    out = subprocess.run(argv, capture_output=True, check=False).stdout
    if secret in out:
        found.append(" ".join(argv))

for top in ("/etc", "/var", "/opt", "/run", "/tmp", "/root", "/home", "/srv", "/usr/local"):
    for root, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or st.st_size > 50_000_000:
                    continue
                checked["files"] += 1
                if not st.st_mode & stat.S_IROTH:
                    continue
                with open(path, "rb") as f:
                    if secret in f.read():
                        found.append(path)
            except OSError:
                continue

# One JSON document on stdout: Mitogen runs scripts with a TTY, which merges stderr into stdout.
print(json.dumps({"found": found, "checked": checked}))
