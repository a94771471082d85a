#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: Amazon Data Firehose delivery stream to S3 (community.aws has none)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: firehose_delivery_stream
short_description: Manage an Amazon Data Firehose delivery stream that writes to S3
description:
  - Creates, updates or deletes a Firehose delivery stream whose destination is an S3 bucket
    (extended S3 destination), fed either directly (C(DirectPut)) or from a Kinesis data stream.
  - The source of an existing stream cannot be changed by AWS; the module fails instead of recreating it.
  - Supports check mode and is idempotent (the S3 destination and tags are compared before updating).
options:
  name:
    description: Name of the delivery stream.
    type: str
    required: true
  state:
    description: Whether the delivery stream should exist.
    type: str
    choices: [present, absent]
    default: present
  source_type:
    description: Where the records come from.
    type: str
    choices: [DirectPut, KinesisStreamAsSource]
    default: DirectPut
  kinesis_stream_arn:
    description: ARN of the source Kinesis data stream (I(source_type=KinesisStreamAsSource)).
    type: str
  kinesis_role_arn:
    description: ARN of the IAM role Firehose assumes to read the source stream.
    type: str
  s3_bucket_arn:
    description: ARN of the destination bucket. Required with I(state=present).
    type: str
  s3_role_arn:
    description: ARN of the IAM role Firehose assumes to write to the bucket. Required with I(state=present).
    type: str
  s3_prefix:
    description: Prefix of the objects written.
    type: str
    default: ""
  s3_error_output_prefix:
    description: Prefix of the objects written for records that failed.
    type: str
    default: ""
  buffering_size:
    description: Buffer size in MiB before an object is written.
    type: int
    default: 5
  buffering_interval:
    description: Seconds to buffer before an object is written.
    type: int
    default: 300
  compression_format:
    description: Compression of the objects written.
    type: str
    choices: [UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY]
    default: UNCOMPRESSED
  tags:
    description: Tags of the delivery stream.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description: Remove tags not listed in I(tags).
    type: bool
    default: true
  wait:
    description: Wait until the stream is ACTIVE (or deleted).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 600
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - kafka-pipeline team
"""

EXAMPLES = r"""
- name: Archive a Kinesis data stream to S3
  firehose_delivery_stream:
    name: tweets-archive
    source_type: KinesisStreamAsSource
    kinesis_stream_arn: arn:aws:kinesis:eu-west-1:123456789012:stream/tweets
    kinesis_role_arn: arn:aws:iam::123456789012:role/firehose
    s3_bucket_arn: arn:aws:s3:::tweets-archive
    s3_role_arn: arn:aws:iam::123456789012:role/firehose
    s3_prefix: tweets/
"""

RETURN = r"""
delivery_stream:
  description: Description of the delivery stream (snake_case keys), empty when it does not exist.
  returned: always
  type: dict
"""

import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags


def describe(client, name):
    try:
        return client.describe_delivery_stream(DeliveryStreamName=name, aws_retry=True)["DeliveryStreamDescription"]
    except client.exceptions.ResourceNotFoundException:
        return None


def wanted_destination(params):
    return {
        "RoleARN": params["s3_role_arn"],
        "BucketARN": params["s3_bucket_arn"],
        "Prefix": params["s3_prefix"],
        "ErrorOutputPrefix": params["s3_error_output_prefix"],
        "BufferingHints": {"SizeInMBs": params["buffering_size"], "IntervalInSeconds": params["buffering_interval"]},
        "CompressionFormat": params["compression_format"],
    }


def destination_differs(current, wanted):
    for key, value in wanted.items():
        have = current.get(key, "" if key in ("Prefix", "ErrorOutputPrefix") else None)
        if key == "BufferingHints":
            have = {k: (current.get(key) or {}).get(k) for k in value}
        if have != value:
            return True
    return False


def wait_for(client, module, name, gone):
    deadline = time.time() + module.params["wait_timeout"]
    while time.time() < deadline:
        stream = describe(client, name)
        if gone and stream is None:
            return None
        if not gone and stream and stream["DeliveryStreamStatus"] == "ACTIVE":
            return stream
        if not gone and stream and stream["DeliveryStreamStatus"].endswith("FAILED"):
            module.fail_json(msg="Delivery stream {0} is {1}".format(name, stream["DeliveryStreamStatus"]))
        time.sleep(5)
    module.fail_json(msg="Timed out waiting for delivery stream {0}".format(name))


def sync_tags(client, module, name):
    tags = module.params["tags"]
    if tags is None:
        return False
    current = client.list_tags_for_delivery_stream(DeliveryStreamName=name, aws_retry=True).get("Tags", [])
    current = {t["Key"]: t.get("Value", "") for t in current}
    to_add, to_remove = compare_aws_tags(current, tags, module.params["purge_tags"])
    if (to_add or to_remove) and not module.check_mode:
        if to_remove:
            client.untag_delivery_stream(DeliveryStreamName=name, TagKeys=to_remove, aws_retry=True)
        if to_add:
            client.tag_delivery_stream(
                DeliveryStreamName=name, Tags=[{"Key": k, "Value": v} for k, v in to_add.items()], aws_retry=True
            )
    return bool(to_add or to_remove)


def ensure_present(client, module, stream):
    params = module.params
    name = params["name"]
    wanted = wanted_destination(params)
    if stream is None:
        if module.check_mode:
            module.exit_json(changed=True, delivery_stream={})
        create = {
            "DeliveryStreamName": name,
            "DeliveryStreamType": params["source_type"],
            "ExtendedS3DestinationConfiguration": wanted,
        }
        if params["source_type"] == "KinesisStreamAsSource":
            create["KinesisStreamSourceConfiguration"] = {
                "KinesisStreamARN": params["kinesis_stream_arn"],
                "RoleARN": params["kinesis_role_arn"],
            }
        if params["tags"]:
            create["Tags"] = [{"Key": k, "Value": v} for k, v in params["tags"].items()]
        client.create_delivery_stream(aws_retry=True, **create)
        stream = wait_for(client, module, name, gone=False) if params["wait"] else describe(client, name)
        return True, stream

    if stream["DeliveryStreamType"] != params["source_type"]:
        module.fail_json(
            msg="Delivery stream {0} reads from {1}; AWS cannot change the source to {2}: delete it first.".format(
                name, stream["DeliveryStreamType"], params["source_type"]
            )
        )
    if params["source_type"] == "KinesisStreamAsSource":
        source = (stream.get("Source") or {}).get("KinesisStreamSourceDescription") or {}
        if source.get("KinesisStreamARN") != params["kinesis_stream_arn"]:
            module.fail_json(msg="Delivery stream {0} reads another Kinesis stream; delete it first.".format(name))

    changed = False
    destination = stream["Destinations"][0]
    current = destination.get("ExtendedS3DestinationDescription") or destination.get("S3DestinationDescription") or {}
    if destination_differs(current, wanted):
        changed = True
        if not module.check_mode:
            client.update_destination(
                DeliveryStreamName=name,
                CurrentDeliveryStreamVersionId=stream["VersionId"],
                DestinationId=destination["DestinationId"],
                ExtendedS3DestinationUpdate=wanted,
                aws_retry=True,
            )
    changed |= sync_tags(client, module, name)
    if changed and not module.check_mode:
        stream = describe(client, name)
    return changed, stream


def ensure_absent(client, module, stream):
    if stream is None:
        return False, None
    if not module.check_mode:
        client.delete_delivery_stream(DeliveryStreamName=module.params["name"], aws_retry=True)
        if module.params["wait"]:
            wait_for(client, module, module.params["name"], gone=True)
    return True, None


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        source_type=dict(type="str", choices=["DirectPut", "KinesisStreamAsSource"], default="DirectPut"),
        kinesis_stream_arn=dict(type="str"),
        kinesis_role_arn=dict(type="str"),
        s3_bucket_arn=dict(type="str"),
        s3_role_arn=dict(type="str"),
        s3_prefix=dict(type="str", default=""),
        s3_error_output_prefix=dict(type="str", default=""),
        buffering_size=dict(type="int", default=5),
        buffering_interval=dict(type="int", default=300),
        compression_format=dict(
            type="str", choices=["UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"], default="UNCOMPRESSED"
        ),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[
            ("state", "present", ["s3_bucket_arn", "s3_role_arn"]),
            ("source_type", "KinesisStreamAsSource", ["kinesis_stream_arn", "kinesis_role_arn"]),
        ],
    )
    client = module.client("firehose", retry_decorator=AWSRetry.jittered_backoff())
    try:
        stream = describe(client, module.params["name"])
        if module.params["state"] == "present":
            changed, stream = ensure_present(client, module, stream)
        else:
            changed, stream = ensure_absent(client, module, stream)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Firehose delivery stream {0}".format(module.params["name"]))
    module.exit_json(changed=changed, delivery_stream=camel_dict_to_snake_dict(stream or {}, ignore_list=["Tags"]))


if __name__ == "__main__":
    main()
