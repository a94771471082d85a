"""Connection plugin: containers.podman.podman with Ansible pipelining.

The collection's plugin runs `podman exec` without `-i`, so a module cannot be fed on standard
input and every task costs a temp dir, a copy, a chmod, a run and a cleanup (five podman calls,
about 3 s per task here). With `-i` the module is piped in: one `podman exec` per task. The lab and
the molecule scenarios use it; it changes nothing else.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: podman_pipelined
    short_description: Run tasks in an existing podman container, with pipelining
    description:
        - containers.podman.podman, plus C(podman exec -i) so that Ansible pipelining works.
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

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import (
    Connection as PodmanConnection,
)


class Connection(PodmanConnection):
    transport = "podman_pipelined"
    has_pipelining = True

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):  # type: ignore[no-untyped-def]
        """Run cmd in the container; with in_data, attach standard input (-i) to feed it."""
        cmd_args = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        exec_args = ["exec", "-i"] if in_data is not None else ["exec"]
        if self.user:
            exec_args.extend(("--user", self.user))
        return self._podman(exec_args, cmd_args, in_data)
