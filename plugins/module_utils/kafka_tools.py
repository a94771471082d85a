"""Running Kafka's own command-line tools (bin/*.sh) from a module: one timeout, the tool's own
error line, the client settings of --command-config with the module's timeouts added."""

from __future__ import annotations

import os
import subprocess
from typing import Any

# Seconds a tool may take beyond its admin client's own timeout: the JVM's start.
JVM_START_MARGIN_S = 30
# The options every tool module takes (documented once: plugins/doc_fragments/kafka_tool.py).
KAFKA_TOOL_ARGS: dict[str, Any] = {
    "kafka_home": {"type": "path", "required": True},
    "bootstrap_servers": {"type": "str", "required": True},
    "timeout": {"type": "int", "default": 60},
    "command_config": {"type": "path"},
}


def tool_error(stdout: str, stderr: str) -> str:
    """The tool's own error line: the first line of stderr that is neither a log line ("[date] WARN
    ...") nor a stack frame, else the tail of what it printed."""
    for line in stderr.splitlines():
        if (
            line.strip()
            and not line.startswith("[")
            and not line.lstrip().startswith(("at ", "..."))
        ):
            return line.strip()
    return (stderr.strip() or stdout.strip())[-500:] or "no output"


def check_tool(module: Any, tool: str) -> str:
    """The tool's path in kafka_home; fail_json when it is not there or the timeout is below 1."""
    if module.params["timeout"] < 1:
        module.fail_json(msg=f"timeout must be at least 1 (got {module.params['timeout']})")
    path = os.path.join(module.params["kafka_home"], tool)
    if not os.access(path, os.X_OK):
        module.fail_json(
            msg=f"{tool} not found or not executable in kafka_home {module.params['kafka_home']}"
        )
    return path


def timed_command_config(module: Any, name: str) -> str:
    """A copy of the command_config option's file (if any) in the module's temp dir, with the
    admin client's timeouts set to the timeout option: the tool gives up before the module does."""
    timeout_ms = module.params["timeout"] * 1000
    given = ""
    if module.params.get("command_config"):
        try:
            with open(module.params["command_config"], encoding="utf-8") as source:
                given = source.read().rstrip("\n") + "\n"
        except OSError as exc:
            module.fail_json(
                msg=f"cannot read command_config {module.params['command_config']}: {exc}"
            )
    path = os.path.join(module.tmpdir, name)
    with open(path, "w", encoding="utf-8") as config:
        config.write(
            f"{given}request.timeout.ms={timeout_ms}\ndefault.api.timeout.ms={timeout_ms}\n"
        )
    return path


def run_tool(module: Any, tool: str, args: list[str], what: str) -> str:
    """stdout of `<kafka_home>/<tool> <args>`; fail_json with the tool's own error when it fails or
    outlives the timeout option (plus the JVM's start)."""
    argv = [os.path.join(module.params["kafka_home"], tool), *args]
    limit = module.params["timeout"] + JVM_START_MARGIN_S
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        module.fail_json(msg=f"{tool} {what} did not finish within {limit} s", cmd=argv)
    except OSError as exc:
        module.fail_json(msg=f"cannot run {argv[0]}: {exc}", cmd=argv)
    if done.returncode != 0:
        module.fail_json(
            msg=f"{tool} {what} failed (rc {done.returncode}): "
            f"{tool_error(done.stdout, done.stderr)}",
            cmd=argv, rc=done.returncode, stdout=done.stdout, stderr=done.stderr[-3000:],
        )  # fmt: skip
    return done.stdout
