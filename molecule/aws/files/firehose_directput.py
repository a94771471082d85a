"""Puts records on a DirectPut Firehose delivery stream and lists the objects written to its bucket.

Usage: python firehose_directput.py DELIVERY_STREAM BUCKET PREFIX REGION
Prints the object keys under PREFIX; exits 1 when none appear.
"""

import json
import sys
import time

import boto3

name, bucket, prefix, region = sys.argv[1:5]
firehose = boto3.client("firehose", region_name=region)
s3 = boto3.client("s3", region_name=region)
firehose.put_record_batch(
    DeliveryStreamName=name,
    Records=[{"Data": (json.dumps({"n": n}) + "\n").encode()} for n in range(3)],
)
deadline = time.time() + 30
while time.time() < deadline:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    if keys:
        print(json.dumps(keys))
        sys.exit(0)
    time.sleep(1)
sys.exit(1)
