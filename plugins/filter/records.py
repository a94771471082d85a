"""Filter plugin `record_argv`: the command that keeps a record of what a role's full pass left on a host.

A role that writes many files spends a module run per file on every rerun, only to find each one as it
left it. Instead it can compare one record: the full pass ends by writing (mode "write") the spec it
applied (a digest of everything it decides: rendered contents, owners, modes) and a listing of its files
as they are then (each file's SHA-256, each link's target, each path's type, mode and owner, the paths that
must be absent).
The next run prints (mode "check") the record, "@@", the listing made now, "@@", then whatever `then`
prints (pki: the certificate's end). When the record's first part equals the listing, nothing the role
manages changed on either side, and the full pass can be left out.

    argv: "{{ spec | record_argv(record_path, files, absent, 'check') }}"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# $1 spec, $2 record, $3 mode, $4 the snippet run after a check; then the files, "--", the absent paths.
RECORD_SCRIPT = r"""spec=$1 record=$2 mode=$3 then=$4; shift 4
listing() {
  printf 'spec %s\n' "$spec"
  for path in "$@"; do
    [ "$path" = -- ] && break
    if [ -f "$path" ]; then sha256sum -- "$path"; fi
    if [ -L "$path" ]; then printf '%s -> %s\n' "$path" "$(readlink -- "$path")"; fi
    stat -c '%n %F %a %U:%G' -- "$path" 2>&1
  done
  absent=false
  for path in "$@"; do
    if [ "$path" = -- ]; then absent=true; continue; fi
    if $absent && { [ -e "$path" ] || [ -L "$path" ]; }; then echo "present $path"; fi
  done
}
if [ "$mode" = write ]; then listing "$@" > "$record.new" && mv -f "$record.new" "$record"; exit; fi
cat -- "$record" 2>/dev/null; echo @@
listing "$@"; echo @@
if [ -n "$then" ]; then eval "$then"; fi
"""


def record_argv(
    spec: Any,
    record: str,
    files: Iterable[str],
    absent: Iterable[str] = (),
    mode: str = "check",
    then: str = "",
) -> list[str]:
    """argv (sh, no other dependency) that checks or writes the record of `files` at `record`."""
    if mode not in ("check", "write"):
        raise ValueError(f"record_argv: mode must be 'check' or 'write', not {mode!r}")
    return ["sh", "-c", RECORD_SCRIPT, "record", str(spec), str(record), mode, then, *files, "--", *absent]


def record_current(stdout: str) -> bool:
    """Whether a check's output says the files are as the record has them (the record is the listing)."""
    parts = stdout.split("@@")
    return len(parts) >= 2 and parts[0].strip() != "" and parts[0].strip() == parts[1].strip()


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"record_argv": record_argv, "record_current": record_current}
