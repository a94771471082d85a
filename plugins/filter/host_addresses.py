"""Filter plugin `host_addresses`: the addresses other hosts use to reach inventory hosts.

A host's address is its `pipeline_host_address` (an inventory variable: on EC2 the private IP,
since instance names do not resolve in a VPC) or, when unset, its inventory name (the lab, where
podman's DNS resolves container names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def host_addresses(hosts: Iterable[str], hostvars: Mapping[str, Any], port: Any = None) -> list[str]:
    """Each host's pipeline_host_address (default: its name), with ":port" when a port is given."""
    suffix = "" if port is None else f":{port}"
    return [f"{hostvars[h].get('pipeline_host_address') or h}{suffix}" for h in hosts]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"host_addresses": host_addresses}
