"""Prints, as JSON, what verify.yml checks of the emulated account.

Usage: python describe.py firehose|integration|msk PREFIX REGION
  firehose     the archiving delivery stream <PREFIX>-tweets-archive
  integration  the POST /records integration of the REST API <PREFIX>-ingest
  msk          the MSK cluster <PREFIX>-msk
"""

import json
import sys

import boto3

kind, prefix, region = sys.argv[1:4]
if kind == "firehose":
    answer = boto3.client("firehose", region_name=region).describe_delivery_stream(
        DeliveryStreamName=prefix + "-tweets-archive"
    )["DeliveryStreamDescription"]
elif kind == "integration":
    apigw = boto3.client("apigateway", region_name=region)
    apis = [a for a in apigw.get_rest_apis()["items"] if a["name"] == prefix + "-ingest"]
    assert len(apis) == 1, apis
    resource = [r for r in apigw.get_resources(restApiId=apis[0]["id"])["items"] if r["path"] == "/records"][0]
    answer = apigw.get_integration(restApiId=apis[0]["id"], resourceId=resource["id"], httpMethod="POST")
elif kind == "msk":
    kafka = boto3.client("kafka", region_name=region)
    arns = [c["ClusterArn"] for c in kafka.list_clusters(ClusterNameFilter=prefix + "-msk")["ClusterInfoList"]]
    assert len(arns) == 1, arns
    answer = kafka.describe_cluster(ClusterArn=arns[0])["ClusterInfo"]
else:
    sys.exit("unknown kind " + kind)
answer.pop("ResponseMetadata", None)
print(json.dumps(answer, default=str))
