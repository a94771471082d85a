#!/usr/bin/python
"""Ansible module: print a warning the way Ansible prints its own ([WARNING], and in the recap)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pipeline_warning
short_description: Shows a warning and changes nothing
description:
  - Returns I(msg) as a warning, which Ansible shows as C([WARNING]) in the run's output. That is
    how an unsafe setting is pointed out loudly without failing the run.
options:
  msg:
    description: The warning.
    type: str
    required: true
author: kafka-pipeline
"""

EXAMPLES = r"""
- name: Warn about the open layout
  pipeline_warning:
    msg: Kafka runs without TLS, authentication or ACLs.
  delegate_to: localhost
"""

RETURN = r"""
msg:
  description: The warning.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={"msg": {"type": "str", "required": True}}, supports_check_mode=True
    )
    module.warn(module.params["msg"])
    module.exit_json(changed=False, msg=module.params["msg"])


if __name__ == "__main__":
    main()
