#!/usr/bin/python
"""Ansible module: an MSK cluster's bootstrap broker strings, one per client listener."""

from __future__ import annotations

DOCUMENTATION = r"""
module: msk_bootstrap_brokers
short_description: Reads the bootstrap broker strings of an Amazon MSK cluster
description:
  - Calls MSK's GetBootstrapBrokers and returns every string it gives, by its own field name
    (BootstrapBrokerString, BootstrapBrokerStringTls, BootstrapBrokerStringSaslIam, ...).
    community.aws.msk_cluster returns only the plaintext and TLS ones; IAM clients need the SaslIam one.
  - MSK answers only once the cluster is ACTIVE; before that the module returns no strings and
    I(ready) false, and fails nothing.
options:
  cluster_arn:
    description: ARN of the cluster.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
author: kafka-pipeline
"""

EXAMPLES = r"""
- name: Read the brokers of the IAM listener
  msk_bootstrap_brokers:
    cluster_arn: "{{ cluster.cluster_info.cluster_arn }}"
  register: brokers
"""

RETURN = r"""
bootstrap_brokers:
  description: Every bootstrap string MSK gave, by field name; empty until the cluster is ACTIVE.
  returned: always
  type: dict
  sample: {BootstrapBrokerStringSaslIam: "b-1.x.kafka.eu-west-1.amazonaws.com:9098,b-2.x.kafka.eu-west-1.amazonaws.com:9098"}
ready:
  description: Whether MSK gave the strings (the cluster is ACTIVE).
  returned: always
  type: bool
"""

try:
    import botocore
except ImportError:
    pass  # reported by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={"cluster_arn": {"type": "str", "required": True}}, supports_check_mode=True
    )
    client = module.client("kafka")
    try:
        answer = client.get_bootstrap_brokers(ClusterArn=module.params["cluster_arn"])
    except botocore.exceptions.ClientError as exc:
        # A cluster that is not ACTIVE yet: BadRequestException. Anything else is an error.
        if exc.response.get("Error", {}).get("Code") == "BadRequestException":
            module.exit_json(changed=False, bootstrap_brokers={}, ready=False, reason=str(exc))
        module.fail_json_aws(exc, msg=f"cannot read the bootstrap brokers of {module.params['cluster_arn']}")
    except botocore.exceptions.BotoCoreError as exc:
        module.fail_json_aws(exc, msg=f"cannot read the bootstrap brokers of {module.params['cluster_arn']}")
    brokers = {key: value for key, value in answer.items() if key.startswith("BootstrapBrokerString") and value}
    module.exit_json(changed=False, bootstrap_brokers=brokers, ready=bool(brokers))


if __name__ == "__main__":
    main()
