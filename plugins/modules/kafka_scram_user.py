#!/usr/bin/python
"""Ansible module: ensure a Kafka SCRAM user (its credential for one SCRAM mechanism)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kafka_scram_user
short_description: Ensures a Kafka SCRAM user and its password
description:
  - Creates, updates or deletes the SCRAM credential of a user for one mechanism
    (SCRAM-SHA-512 or SCRAM-SHA-256) with the AlterUserScramCredentials admin API (KIP-554).
    A user with credentials of both mechanisms needs a task per mechanism.
  - Passwords are write-only. Kafka stores a salted hash and never reveals the password, so to
    tell whether I(password) is the current one, the module logs in with it as I(name) with
    I(mechanism), on one short connection to the first reachable server of I(bootstrap_servers).
    An accepted login means no change; a refused one (wrong password, no credential of that
    mechanism) means the password is set again.
  - That check needs a SASL listener at I(bootstrap_servers) that takes I(mechanism). The login
    uses I(security_protocol) when it is SASL_PLAINTEXT or SASL_SSL, else SASL_SSL for SSL and
    SASL_PLAINTEXT for PLAINTEXT (the same host and port). Without such a listener, use
    I(update_password=on_create), which never logs in.
  - Brokers apply new credentials asynchronously. On a multi-broker cluster, a broker that has not
    yet applied a change refuses the login, and the password is set again (a harmless change).
  - The password is never returned, nor shown in the diff or in messages.
  - Idempotent, supports check mode and diff mode. The diff shows the user's C(name),
    C(mechanism), C(iterations) and whether the credential C(exists); a password change alone
    reports changed with the same before and after.
options:
  name: {description: User name (the principal is User:<name>)., type: str, required: true}
  password:
    description: The user's password (required when I(state=present)). Write-only.
    type: str
  mechanism:
    description: The SCRAM mechanism of the credential this task manages.
    type: str
    choices: [SCRAM-SHA-512, SCRAM-SHA-256]
    default: SCRAM-SHA-512
  iterations:
    description:
      - PBKDF2 iteration count of the credential (Kafka accepts 4096 to 16384). A different count
        on an existing credential sets the password again with this count.
    type: int
    default: 4096
  state:
    description:
      - Whether the user has a credential of I(mechanism). C(absent) deletes only the credential
        of I(mechanism); the user cannot log in once it has none (see C(mechanisms)).
    type: str
    choices: [present, absent]
    default: present
  login_servers:
    description:
      - Comma-separated host:port list where the password check logs in, when the SASL listener is
        not the one at I(bootstrap_servers) (for example, the module manages users through a TLS
        listener with a client certificate, and clients log in on a SASL_SSL listener). The login
        uses SASL_SSL when I(security_protocol) is SSL or SASL_SSL, with I(ssl_cafile).
    type: str
  update_password:
    description:
      - C(always) checks the password of an existing credential (by logging in with it) and sets
        it when it differs; its iteration count is enforced too.
      - C(on_create) sets the password only when the credential is created; an existing one is
        left alone, its iteration count included, and no login is tried.
    type: str
    choices: [always, on_create]
    default: always
extends_documentation_fragment: [kafka_connection]
requirements: [kafka-python >= 3.0]
author: kafka-pipeline
"""

EXAMPLES = r"""
- name: Ensure the producer's user
  kafka_scram_user:
    name: producer
    password: "{{ vault_kafka_producer_password }}"
    bootstrap_servers: kafka1:9094
    security_protocol: SASL_SSL
    ssl_cafile: /etc/kafka/ca.pem
    sasl_username: admin
    sasl_password: "{{ vault_kafka_admin_password }}"

- name: Create the consumer's user once, never touch its password afterwards
  kafka_scram_user:
    name: consumer
    password: "{{ initial_password }}"
    update_password: on_create
    bootstrap_servers: kafka1:9092

- name: Remove a user's SCRAM-SHA-256 credential
  kafka_scram_user:
    name: legacy
    mechanism: SCRAM-SHA-256
    state: absent
    bootstrap_servers: kafka1:9092
"""

RETURN = r"""
user: {description: The user name., returned: always, type: str, sample: producer}
mechanisms:
  description:
    - The user's SCRAM credentials after the task, as the broker describes them (mechanism and
      iterations, no secret), all mechanisms; in check mode, what they would be.
  returned: always
  type: list
  elements: dict
  sample: [{mechanism: SCRAM-SHA-512, iterations: 4096}]
"""

import contextlib
import time
import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_admin import (
    KAFKA_COMMON_ARGS,
    KafkaError,
    admin_client,
    scram_login_refusal,
)

with contextlib.suppress(ImportError):  # reported by admin_client()
    import kafka.errors as kafka_errors
    from kafka.admin import UserScramCredentialDeletion, UserScramCredentialUpsertion
    from kafka.protocol.admin import AlterUserScramCredentialsRequest


ON_CREATE = "on_create"
SETTLE_TRIES = 25
SETTLE_DELAY = 0.2


class RefusedError(Exception):
    """The broker refused the change."""


def credentials(admin: Any, name: str) -> dict[str, int]:
    """The user's SCRAM credentials, iterations by mechanism name ("SCRAM-SHA-512"); {} when it has
    none. Describes every user: a missing one is then just absent from the answer, not an error to
    tell from the others by its message."""
    described = admin.describe_user_scram_credentials().get(name)
    if not described or described["error"]:
        return {}
    return {
        info["mechanism"].name.replace("_", "-"): info["iterations"]
        for info in described["credential_infos"]
    }


def settled_credentials(admin: Any, name: str, expected: dict[str, int]) -> dict[str, int]:
    """The user's credentials once the broker describes the change (it applies the controller's
    record asynchronously): the expected ones, or what it describes after a few seconds."""
    described = credentials(admin, name)
    for _ in range(SETTLE_TRIES):
        if described == expected:
            break
        time.sleep(SETTLE_DELAY)
        described = credentials(admin, name)
    return described


def view(name: str, mechanism: str, creds: dict[str, int]) -> dict[str, Any]:
    """The user as the diff shows it: no secret."""
    return {
        "name": name,
        "mechanism": mechanism,
        "iterations": creds.get(mechanism),
        "exists": mechanism in creds,
    }


def as_list(creds: dict[str, int]) -> list[dict[str, Any]]:
    return [{"mechanism": mech, "iterations": creds[mech]} for mech in sorted(creds)]


def alter(admin: Any, name: str, alteration: Any) -> None:
    """AlterUserScramCredentials, sent to the controller; the answer holds the broker's error per user.

    A ZooKeeper-mode broker takes the request only as the active controller (another answers
    NOT_CONTROLLER; a KRaft broker forwards it). kafka-python 3.0's alter_user_scram_credentials sends
    it to any broker and reports an error without a message as success, so a ZooKeeper-mode change
    could be lost while the task said "changed": the request is built and sent here the way kafka-python
    builds it, through its send-to-controller path (which retries once on NOT_CONTROLLER), and an error
    code counts even without a message."""
    if isinstance(alteration, UserScramCredentialDeletion):
        deletions, upsertions = [(alteration.user, int(alteration.mechanism))], []
    else:
        deletions = []
        upsertions = [(alteration.user, int(alteration.mechanism), alteration.iterations, alteration.salt,
                       alteration.salted_password)]
    request = AlterUserScramCredentialsRequest(deletions=deletions, upsertions=upsertions)
    response = admin._manager.run(
        admin._send_request_to_controller,
        request,
        lambda answer: [kafka_errors.for_code(result.error_code) for result in answer.results],
        False,
    )
    results = {result.user: result for result in response.results}
    if name not in results:
        raise RefusedError("no answer for this user")
    if results[name].error_code:
        raise RefusedError(results[name].error_message
                           or kafka_errors.for_code(results[name].error_code).__name__)


def password_differs(module: AnsibleModule, params: dict[str, Any]) -> bool:
    """Whether the broker refuses a login as the user with the given password."""
    where = "login_servers" if params.get("login_servers") else "bootstrap_servers"
    login_params = {**params, "bootstrap_servers": params[where]}
    try:
        refusal = scram_login_refusal(
            login_params, params["name"], params["password"], params["mechanism"]
        )
    except KafkaError as exc:
        module.fail_json(
            msg=f"user {params['name']}: cannot check its password by logging in "
            f"(needs a SASL listener taking {params['mechanism']} at {where}; "
            f"update_password=on_create skips the check): {exc}"
        )
    return refusal is not None


def ensure_present(module: AnsibleModule, admin: Any, before: dict[str, int]) -> bool:
    params = module.params
    name, mechanism = params["name"], params["mechanism"]
    if mechanism in before:
        if params["update_password"] == ON_CREATE:
            return False
        if before[mechanism] == params["iterations"] and not password_differs(module, params):
            return False
    if not module.check_mode:
        alter(
            admin,
            name,
            UserScramCredentialUpsertion(
                name, mechanism, params["password"], iterations=params["iterations"]
            ),
        )
    return True


def ensure_absent(module: AnsibleModule, admin: Any, before: dict[str, int]) -> bool:
    name, mechanism = module.params["name"], module.params["mechanism"]
    if mechanism not in before:
        return False
    if not module.check_mode:
        alter(admin, name, UserScramCredentialDeletion(name, mechanism))
    return True


def expected_after(params: dict[str, Any], before: dict[str, int], changed: bool) -> dict[str, int]:
    """The credentials a change leads to (check mode, and the diff)."""
    after = dict(before)
    if params["state"] == "absent":
        after.pop(params["mechanism"], None)
    elif changed:
        after[params["mechanism"]] = params["iterations"]
    return after


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **KAFKA_COMMON_ARGS,
            "name": {"type": "str", "required": True},
            "password": {"type": "str", "no_log": True},
            "mechanism": {
                "type": "str",
                "default": "SCRAM-SHA-512",
                "choices": ["SCRAM-SHA-512", "SCRAM-SHA-256"],
            },
            "iterations": {"type": "int", "default": 4096},
            "login_servers": {"type": "str"},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "update_password": {
                "type": "str",
                "default": "always",
                "choices": ["always", ON_CREATE],
                "no_log": False,  # a policy, not a secret
            },
        },
        required_if=[("state", "present", ["password"])],
        supports_check_mode=True,
    )
    params = module.params
    if not params["name"]:
        module.fail_json(msg="name must not be empty")
    admin = admin_client(module)
    try:
        before = credentials(admin, params["name"])
        if params["state"] == "present":
            changed = ensure_present(module, admin, before)
        else:
            changed = ensure_absent(module, admin, before)
        after = expected_after(params, before, changed)
        if changed and not module.check_mode:
            after = settled_credentials(admin, params["name"], after)
    except RefusedError as exc:
        module.fail_json(msg=f"user {params['name']}: the broker refused the change: {exc}")
    except KafkaError as exc:
        module.fail_json(msg=f"user {params['name']}: {exc}", exception=traceback.format_exc())
    finally:
        admin.close()
    result: dict[str, Any] = {
        "changed": changed,
        "user": params["name"],
        "mechanisms": as_list(after),
    }
    if module._diff:
        result["diff"] = {
            "before": view(params["name"], params["mechanism"], before),
            "after": view(params["name"], params["mechanism"], after),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
