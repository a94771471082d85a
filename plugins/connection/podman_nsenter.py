"""Connection plugin: run tasks in a local podman container by entering its namespaces.

The collection's containers.podman.podman runs `podman exec` without `-i` (no pipelining: a temp
dir, a copy, a chmod, a run and a cleanup per task), and each `podman exec` costs about 0.25 s
here (podman, conmon and runc start for every command). As root on the container's host, this
plugin enters the container's namespaces and root directory with nsenter instead: a few
milliseconds per command, modules piped in on standard input (pipelining). The command sees what
`podman exec` would give it: the container's hostname, network, processes and file system, its
environment, the working directory of its init (/), and (as `podman exec` does) the container's cgroups: Java
reads its limits from /proc/self/cgroup and fails on a path its container cannot see. It differs
in one way, which brings it closer to a real host: it keeps root's full capability set (a container
drops some). Not root, or a remote_user set: plain `podman exec -i` as before.
The lab and the molecule scenarios use it.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: podman_nsenter
    short_description: Run tasks in a local podman container through nsenter, with pipelining
    description:
        - containers.podman.podman, but commands enter the container's namespaces with nsenter
          (root only; otherwise C(podman exec -i)), and modules are piped (Ansible pipelining).
    author: kafka-pipeline
    options:
      remote_addr:
        description: The ID of the container you want to access.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: User to run commands as inside the container.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments to pass to the podman command line.
        default: ''
        ini:
          - section: defaults
            key: podman_extra_args
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description: Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
      pipelining:
        description: Pipe modules to the interpreter on standard input instead of copying them.
        type: boolean
        default: true
        vars:
          - name: ansible_pipelining
"""

import os
import shlex
import shutil
import subprocess

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import (
    Connection as PodmanConnection,
)

# podman exec gives a command the container's configured environment; its init has that plus a
# variable podman adds for systemd alone.
INIT_ONLY_VARIABLES = frozenset({"container_uuid"})


def container_cgroup_procs(pid: int) -> list[str]:
    """The cgroup.procs files of the container whose init is pid: where `podman exec` puts a
    command (its cgroup in every hierarchy; systemd's own init.scope left out)."""
    unified = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    files = []
    with open(f"/proc/{pid}/cgroup", encoding="utf-8") as cgroups:
        for line in cgroups:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            path = path.removesuffix("/init.scope")
            if unified:
                hierarchy = "/sys/fs/cgroup"
            elif not controllers:
                hierarchy = "/sys/fs/cgroup/unified"
            else:
                hierarchy = "/sys/fs/cgroup/" + controllers.removeprefix("name=")
            procs = f"{hierarchy}{path}/cgroup.procs"
            if os.path.exists(procs):
                files.append(procs)
    return files


class Connection(PodmanConnection):
    transport = "podman_nsenter"
    has_pipelining = True

    def _connect(self):  # type: ignore[no-untyped-def]
        """Find the container's init process (no mount: files go through /proc/PID/root)."""
        self._init_pid: int | None = None
        self._environment: dict[str, str] = {}
        self._cgroup_procs: list[str] = []
        self._nsenter = shutil.which("nsenter")
        if os.geteuid() != 0 or self.user not in (None, "", "root") or not self._nsenter:
            return super()._connect()
        rc, out, err = self._podman(["inspect", "--format", "{{.State.Pid}}"])
        pid = int(out.strip() or 0) if rc == 0 else 0
        if pid <= 0:
            raise AnsibleConnectionFailure(
                f"container {self._container_id} is not running: {to_native(err).strip() or 'no process'}"
            )
        self._init_pid = pid
        self._cgroup_procs = container_cgroup_procs(pid)
        with open(f"/proc/{pid}/environ", "rb") as environ:
            for entry in environ.read().split(b"\0"):
                name, sep, value = to_native(entry).partition("=")
                if sep and name not in INIT_ONLY_VARIABLES:
                    self._environment[name] = value
        self._connected = True
        return self

    def _container_path(self, path: str) -> bytes:
        return to_bytes(f"/proc/{self._init_pid}/root/{path.lstrip('/')}", errors="surrogate_or_strict")

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):  # type: ignore[no-untyped-def]
        """Run cmd in the container; with in_data, feed it on standard input."""
        cmd_args = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        if self._init_pid is None:
            exec_args = ["exec", "-i"] if in_data is not None else ["exec"]
            if self.user not in (None, "", "root"):
                exec_args.extend(("--user", self.user))
            return self._podman(exec_args, cmd_args, in_data)
        argv = [self._nsenter, f"--target={self._init_pid}", "--mount", "--uts", "--ipc", "--net",
                "--pid", "--root", "--wd", "--", *cmd_args]
        process = subprocess.run(  # noqa: S603 - argv, no shell on this side
            [to_bytes(arg, errors="surrogate_or_strict") for arg in argv],
            input=in_data,
            capture_output=True,
            env=self._environment,
            check=False,
            preexec_fn=self._join_cgroups,  # noqa: PLW1509 - a forked worker runs no other threads
        )
        return process.returncode, process.stdout, process.stderr

    def _join_cgroups(self) -> None:
        """In the child, before nsenter: move into the container's cgroups."""
        pid = str(os.getpid())
        for procs in self._cgroup_procs:
            try:
                with open(procs, "w", encoding="ascii") as cgroup:
                    cgroup.write(pid)
            except OSError:
                pass  # a hierarchy the controller cannot write: the others still apply

    def put_file(self, in_path, out_path):  # type: ignore[no-untyped-def]
        """Copy a controller file into the container (Ansible's temp paths, no symlinks in them)."""
        if self._init_pid is None:
            return super().put_file(in_path, out_path)
        shutil.copyfile(to_bytes(in_path, errors="surrogate_or_strict"), self._container_path(out_path))
        return None

    def fetch_file(self, in_path, out_path):  # type: ignore[no-untyped-def]
        """Copy a container file to the controller."""
        if self._init_pid is None:
            return super().fetch_file(in_path, out_path)
        shutil.copyfile(self._container_path(in_path), to_bytes(out_path, errors="surrogate_or_strict"))
        return None

    def close(self):  # type: ignore[no-untyped-def]
        """Nothing to release when entered through nsenter (no podman mount)."""
        if self._init_pid is None:
            return super().close()
        self._connected = False
        return None
