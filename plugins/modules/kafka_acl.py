#!/usr/bin/python
"""Ansible module: declare the ACLs of one Kafka principal."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kafka_acl
short_description: Manages the ACLs of one Kafka principal declaratively
description:
  - Adds and removes the ACL bindings of one principal (for example C(User:producer)) with the
    CreateAcls and DeleteAcls admin APIs. Each entry of I(acls) stands for one binding per
    operation it lists.
  - C(present) adds the listed bindings that are missing; C(absent) removes the listed bindings
    that exist; C(exact) adds the missing ones and removes every other binding of the principal
    (on any resource, even of a type this module does not take), so I(acls) becomes the
    principal's whole access. C(exact) with no I(acls) removes all of them.
  - Operations and resource types are checked before anything is sent, with Kafka's own table
    of the operations each resource type supports.
  - Needs a broker with an authorizer (authorizer.class.name) and a principal allowed to alter
    the cluster's ACLs (a super user, or Alter on the cluster).
  - Idempotent, supports check mode and diff mode. The diff shows the C(principal) and its C(acls)
    before and after, one readable line per binding, for example
    "allow Write on topic:twitter (literal) from *".
options:
  principal:
    description: The principal, C(<type>:<name>) as Kafka writes it (C(User:producer)).
    type: str
    required: true
  acls:
    description: The bindings, grouped by resource, permission and host.
    type: list
    elements: dict
    default: []
    suboptions:
      resource_type:
        description: Type of the resource.
        type: str
        required: true
        choices: [topic, group, cluster, transactional_id]
      resource_name:
        description:
          - Name of the resource, or its prefix (I(pattern_type=prefixed)); C(*) is every
            resource of the type. Required except for the cluster, whose name is
            C(kafka-cluster).
        type: str
      pattern_type:
        description: Whether I(resource_name) is a whole name or a prefix.
        type: str
        choices: [literal, prefixed]
        default: literal
      operations:
        description:
          - Operations, as Kafka names them (Read, Write, Create, Delete, Alter, Describe,
            ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All); case, C(_) and
            C(-) do not matter (C(idempotent_write) is IdempotentWrite).
          - "Each resource type takes its own: topic Read, Write, Create, Describe, Delete, Alter,
            DescribeConfigs, AlterConfigs; group Read, Describe, Delete, DescribeConfigs,
            AlterConfigs; cluster Create, ClusterAction, DescribeConfigs, AlterConfigs,
            IdempotentWrite, Alter, Describe; transactional_id Describe, Write; All on each."
        type: list
        elements: str
        required: true
      permission:
        description: Whether the binding allows or denies the operations.
        type: str
        choices: [allow, deny]
        default: allow
      host:
        description: Client host (IP address) the binding applies to; C(*) is any host.
        type: str
        default: "*"
  state:
    description: C(present) adds, C(absent) removes, C(exact) adds and removes the unlisted.
    type: str
    choices: [present, absent, exact]
    default: present
extends_documentation_fragment: [kafka_connection]
requirements: [kafka-python >= 3.0]
author: kafka-pipeline
"""

EXAMPLES = r"""
- name: The producer writes to the twitter topic, and nothing else
  kafka_acl:
    principal: User:producer
    state: exact
    acls:
      - {resource_type: topic, resource_name: twitter, operations: [Write, Describe]}
      - {resource_type: cluster, operations: [IdempotentWrite]}
    bootstrap_servers: kafka1:9094
    security_protocol: SASL_SSL
    ssl_cafile: /etc/kafka/ca.pem
    sasl_username: admin
    sasl_password: "{{ vault_kafka_admin_password }}"

- name: The consumer reads the twitter topics with its groups
  kafka_acl:
    principal: User:consumer
    acls:
      - resource_type: topic
        resource_name: twitter
        pattern_type: prefixed
        operations: [Read, Describe]
      - {resource_type: group, resource_name: tweet-, pattern_type: prefixed, operations: [Read]}
    bootstrap_servers: kafka1:9092
"""

RETURN = r"""
added:
  description: Bindings added (in check mode, that would be added).
  returned: always
  type: list
  elements: dict
  sample:
    - {resource_type: topic, resource_name: twitter, pattern_type: literal, operation: Write,
       permission: allow, host: "*"}
removed:
  description: Bindings removed (in check mode, that would be removed), same form as C(added).
  returned: always
  type: list
  elements: dict
acls:
  description: The principal's bindings after the task (in check mode, what they would be).
  returned: always
  type: list
  elements: dict
"""

import contextlib
import re
import traceback
from typing import Any, NamedTuple

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_admin import KAFKA_COMMON_ARGS, KafkaError, admin_client

with contextlib.suppress(ImportError):  # reported by admin_client()
    from kafka.admin import (
        ACL,
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourcePatternFilter,
        ResourceType,
    )

CLUSTER_NAME = "kafka-cluster"

# Kafka's names of the operations (AclOperation), by ACLOperation member name.
OPERATION_NAMES = {
    "ALL": "All",
    "READ": "Read",
    "WRITE": "Write",
    "CREATE": "Create",
    "DELETE": "Delete",
    "ALTER": "Alter",
    "DESCRIBE": "Describe",
    "CLUSTER_ACTION": "ClusterAction",
    "DESCRIBE_CONFIGS": "DescribeConfigs",
    "ALTER_CONFIGS": "AlterConfigs",
    "IDEMPOTENT_WRITE": "IdempotentWrite",
    "CREATE_TOKENS": "CreateTokens",
    "DESCRIBE_TOKENS": "DescribeTokens",
}

# The operations each resource type supports (Kafka's AclEntry.supportedOperations), All aside.
SUPPORTED_OPERATIONS = {
    "topic": [
        "Read", "Write", "Create", "Describe", "Delete", "Alter", "DescribeConfigs", "AlterConfigs",
    ],
    "group": ["Read", "Describe", "Delete", "DescribeConfigs", "AlterConfigs"],
    "cluster": [
        "Create", "ClusterAction", "DescribeConfigs", "AlterConfigs", "IdempotentWrite", "Alter",
        "Describe",
    ],
    "transactional_id": ["Describe", "Write"],
}  # fmt: skip


class Binding(NamedTuple):
    """One ACL binding of the principal, in this module's words (the diff's and the results')."""

    resource_type: str
    resource_name: str
    pattern_type: str
    operation: str
    permission: str
    host: str

    def line(self) -> str:
        return (
            f"{self.permission} {self.operation} on {self.resource_type}:{self.resource_name} "
            f"({self.pattern_type}) from {self.host}"
        )


class InvalidAclError(Exception):
    """An entry of acls that Kafka would not take."""


class RefusedError(Exception):
    """The broker refused part of the request; changed: whether an earlier part took effect."""

    def __init__(self, message: str, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


def operation_name(given: str) -> str | None:
    """Kafka's name of an operation however it is written (IdempotentWrite, idempotent_write...),
    or None when it is not one."""
    wanted = re.sub(r"[-_\s]", "", given).lower()
    return next((name for name in OPERATION_NAMES.values() if name.lower() == wanted), None)


def entry_bindings(index: int, entry: dict[str, Any]) -> list[Binding]:
    """The bindings of one entry of acls; InvalidAclError with what is wrong and where."""
    resource_type = entry["resource_type"]
    name = entry.get("resource_name")
    where = f"acls[{index}] ({resource_type}{f' {name}' if name else ''})"
    if resource_type == "cluster":
        if name not in (None, CLUSTER_NAME):
            raise InvalidAclError(f"{where}: the cluster's resource_name is {CLUSTER_NAME}")
        if entry["pattern_type"] != "literal":
            raise InvalidAclError(f"{where}: the cluster takes pattern_type literal only")
        name = CLUSTER_NAME
    elif not name:
        raise InvalidAclError(f"{where}: resource_name is required for a {resource_type}")
    if not entry["operations"]:
        raise InvalidAclError(f"{where}: operations is empty")
    supported = SUPPORTED_OPERATIONS[resource_type]
    bindings = []
    for given in entry["operations"]:
        operation = operation_name(str(given))
        if operation is None:
            raise InvalidAclError(
                f"{where}: unknown operation {given!r}; Kafka's operations are "
                f"{', '.join(OPERATION_NAMES.values())}"
            )
        if operation != "All" and operation not in supported:
            raise InvalidAclError(
                f"{where}: {operation} is not an operation on a {resource_type}; "
                f"a {resource_type} takes {', '.join(supported)} or All"
            )
        bindings.append(
            Binding(
                resource_type,
                name,
                entry["pattern_type"],
                operation,
                entry["permission"],
                entry["host"] or "*",
            )
        )
    return bindings


def wanted_bindings(entries: list[dict[str, Any]]) -> set[Binding]:
    return {binding for i, entry in enumerate(entries) for binding in entry_bindings(i, entry)}


def from_acl(acl: Any) -> Binding:
    """A kafka-python ACL in this module's words."""
    operation = acl.operation.name
    return Binding(
        acl.resource_pattern.resource_type.name.lower(),
        acl.resource_pattern.resource_name,
        acl.resource_pattern.pattern_type.name.lower(),
        OPERATION_NAMES.get(operation, operation),
        acl.permission_type.name.lower(),
        acl.host,
    )


def to_acl(principal: str, binding: Binding) -> Any:
    """A kafka-python ACL (create_acls), or ACLFilter (delete_acls) that matches it alone."""
    operation = next(k for k, v in OPERATION_NAMES.items() if v == binding.operation)
    return ACL(
        principal=principal,
        host=binding.host,
        operation=ACLOperation[operation],
        permission_type=ACLPermissionType[binding.permission.upper()],
        resource_pattern=ResourcePattern(
            ResourceType[binding.resource_type.upper()],
            binding.resource_name,
            ACLResourcePatternType[binding.pattern_type.upper()],
        ),
    )


def current_bindings(admin: Any, principal: str) -> set[Binding]:
    """Every ACL binding of the principal, on any resource (DescribeAcls; kafka-python raises the
    broker's error, SecurityDisabledError without an authorizer)."""
    everything = ACLFilter(
        principal=principal,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    try:
        acls, _ = admin.describe_acls(everything)
    except ValueError as exc:  # an enum value newer than kafka-python (TwoPhaseCommit...)
        raise KafkaError(f"kafka-python cannot read one of the principal's ACLs: {exc}") from exc
    return {from_acl(acl) for acl in acls}


def error_text(error: Any) -> str:
    """An error class of kafka-python's ACL answers, with its description (kafka-python keeps no
    message of the broker's for these)."""
    description = getattr(error, "description", "")
    return f"{error.__name__}: {description}" if description else error.__name__


def add(admin: Any, principal: str, bindings: list[Binding]) -> None:
    """CreateAcls; the answer holds an error per binding, in request order."""
    outcome = admin.create_acls([to_acl(principal, binding) for binding in bindings])
    if not outcome["failed"]:
        return
    created = {from_acl(acl) for acl in outcome["succeeded"]}
    refused = [binding for binding in bindings if binding not in created]
    details = "; ".join(
        f"{binding.line()}: {error_text(error)}"
        for binding, error in zip(refused, outcome["failed"], strict=False)
    )
    raise RefusedError(f"the broker refused to add {details}", changed=bool(created))


def remove(admin: Any, principal: str, bindings: list[Binding], changed: bool) -> None:
    """DeleteAcls, one exact filter per binding; the answer holds an error per filter."""
    results = admin.delete_acls([to_acl(principal, binding) for binding in bindings])
    errors = [
        f"{binding.line()}: {error_text(error)}"
        for binding, (_, _, error) in zip(bindings, results, strict=True)
        if error.errno != 0
    ]
    if errors:
        removed = len(errors) < len(bindings)
        raise RefusedError(
            f"the broker refused to remove {'; '.join(errors)}", changed=changed or removed
        )


def plan(
    state: str, wanted: set[Binding], before: set[Binding]
) -> tuple[list[Binding], list[Binding]]:
    """(to add, to remove), sorted."""
    if state == "absent":
        return [], sorted(wanted & before)
    to_add = sorted(wanted - before)
    return to_add, sorted(before - wanted) if state == "exact" else []


def as_dicts(bindings: list[Binding] | set[Binding]) -> list[dict[str, str]]:
    return [binding._asdict() for binding in sorted(bindings)]


def validate_principal(module: AnsibleModule, principal: str) -> None:
    kind, _, name = principal.partition(":")
    if not kind or not name:
        module.fail_json(
            msg=f"principal {principal!r} is not <type>:<name> (for example User:producer)"
        )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **KAFKA_COMMON_ARGS,
            "principal": {"type": "str", "required": True},
            "acls": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "resource_type": {
                        "type": "str",
                        "required": True,
                        "choices": list(SUPPORTED_OPERATIONS),
                    },
                    "resource_name": {"type": "str"},
                    "pattern_type": {
                        "type": "str",
                        "default": "literal",
                        "choices": ["literal", "prefixed"],
                    },
                    "operations": {"type": "list", "elements": "str", "required": True},
                    "permission": {
                        "type": "str",
                        "default": "allow",
                        "choices": ["allow", "deny"],
                    },
                    "host": {"type": "str", "default": "*"},
                },
            },
            "state": {
                "type": "str",
                "default": "present",
                "choices": ["present", "absent", "exact"],
            },
        },
        supports_check_mode=True,
    )
    principal = module.params["principal"]
    validate_principal(module, principal)
    try:
        wanted = wanted_bindings(module.params["acls"])
    except InvalidAclError as exc:
        module.fail_json(msg=f"principal {principal}: {exc}")
    admin = admin_client(module)
    try:
        before = current_bindings(admin, principal)
        to_add, to_remove = plan(module.params["state"], wanted, before)
        if not module.check_mode:
            # Additions first: an exact run that swaps one ACL for another never leaves a gap.
            if to_add:
                add(admin, principal, to_add)
            if to_remove:
                remove(admin, principal, to_remove, changed=bool(to_add))
    except RefusedError as exc:
        module.fail_json(msg=f"principal {principal}: {exc}", changed=exc.changed)
    except KafkaError as exc:
        module.fail_json(msg=f"principal {principal}: {exc}", exception=traceback.format_exc())
    finally:
        admin.close()
    after = (before | set(to_add)) - set(to_remove)
    result: dict[str, Any] = {
        "changed": bool(to_add or to_remove),
        "added": as_dicts(to_add),
        "removed": as_dicts(to_remove),
        "acls": as_dicts(after),
    }
    if module._diff:
        # Dicts: Ansible's diff output takes strings and dicts, not lists.
        result["diff"] = {
            "before": {"principal": principal, "acls": [b.line() for b in sorted(before)]},
            "after": {"principal": principal, "acls": [b.line() for b in sorted(after)]},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
