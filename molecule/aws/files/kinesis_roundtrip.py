"""Puts one record on a Kinesis data stream and reads it back (the ingestion leg of the pipeline).

Usage: python kinesis_roundtrip.py STREAM REGION   (endpoint and keys from AWS_* variables)
Prints the record read back; exits 1 when it does not come back.
"""

import json
import sys
import time
import uuid

import boto3

stream, region = sys.argv[1:3]
kinesis = boto3.client("kinesis", region_name=region)
record = {"id": str(uuid.uuid4()), "text": "hello from molecule/aws"}
put = kinesis.put_record(StreamName=stream, Data=json.dumps(record).encode(), PartitionKey=record["id"])
iterator = kinesis.get_shard_iterator(
    StreamName=stream, ShardId=put["ShardId"], ShardIteratorType="AT_SEQUENCE_NUMBER",
    StartingSequenceNumber=put["SequenceNumber"],
)["ShardIterator"]
deadline = time.time() + 30
while time.time() < deadline:
    answer = kinesis.get_records(ShardIterator=iterator, Limit=10)
    for got in answer["Records"]:
        if json.loads(got["Data"]) == record:
            print(json.dumps(record))
            sys.exit(0)
    iterator = answer["NextShardIterator"]
    time.sleep(1)
sys.exit(1)
