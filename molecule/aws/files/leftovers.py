"""Lists every resource of one project environment left in the (emulated) AWS account, as JSON.

Usage: python leftovers.py PROJECT ENVIRONMENT REGION [--all-eips]   (endpoint, keys: AWS_* variables)
Prints {"kind": [ids...]} for every kind with something left; {} means nothing is left.
Elastic IPs carry no tags (the NAT gateway allocates its own): --all-eips counts every one in the
account, which is right for the emulator's account, which holds nothing else.
Filters are applied here as well as in the request: moto ignores some (NAT gateway tags, IAM paths).
"""

import json
import sys

import boto3

project, environment, region = sys.argv[1:4]
all_eips = "--all-eips" in sys.argv[4:]
tag_filters = [
    {"Name": "tag:Project", "Values": [project]},
    {"Name": "tag:Environment", "Values": [environment]},
]
tags_wanted = {"Project": project, "Environment": environment}


def tagged(tags):
    tags = {t["Key"]: t["Value"] for t in tags} if isinstance(tags, list) else (tags or {})
    return all(tags.get(k) == v for k, v in tags_wanted.items())


ec2 = boto3.client("ec2", region_name=region)
left = {
    "instances": [
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=tag_filters)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ],
    "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag_filters)["Vpcs"]],
    "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=tag_filters)["Subnets"]],
    "security_groups": [g["GroupId"] for g in ec2.describe_security_groups(Filters=tag_filters)["SecurityGroups"]],
    "route_tables": [t["RouteTableId"] for t in ec2.describe_route_tables(Filters=tag_filters)["RouteTables"]],
    "internet_gateways": [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=tag_filters)["InternetGateways"]],
    "nat_gateways": [
        g["NatGatewayId"]
        for g in ec2.describe_nat_gateways(Filter=tag_filters)["NatGateways"]
        if g["State"] not in ("deleted", "deleting") and tagged(g.get("Tags", []))
    ],
    "key_pairs": [k["KeyName"] for k in ec2.describe_key_pairs(Filters=tag_filters)["KeyPairs"]],
    "elastic_ips": [
        a["AllocationId"] for a in ec2.describe_addresses()["Addresses"] if all_eips or tagged(a.get("Tags", []))
    ],
}
iam = boto3.client("iam", region_name=region)
path = "/{0}/{1}/".format(project, environment)
left["iam_roles"] = [r["RoleName"] for r in iam.list_roles(PathPrefix=path)["Roles"] if r["Path"].startswith(path)]
left["instance_profiles"] = [
    p["InstanceProfileName"]
    for p in iam.list_instance_profiles(PathPrefix=path)["InstanceProfiles"]
    if p["Path"].startswith(path)
]
# Customer managed policies (the API's invoke policy, MSK's client policies), by the name prefix or the path.
left["iam_policies"] = [
    p["PolicyName"]
    for p in iam.list_policies(Scope="Local")["Policies"]
    if p["PolicyName"].startswith("{0}-{1}-".format(project, environment)) or p["Path"].startswith(path)
]
s3 = boto3.client("s3", region_name=region)
left["buckets"] = []
for bucket in s3.list_buckets()["Buckets"]:
    try:
        if tagged(s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]):
            left["buckets"].append(bucket["Name"])
    except s3.exceptions.ClientError:
        pass
kinesis = boto3.client("kinesis", region_name=region)
left["kinesis_streams"] = [
    n for n in kinesis.list_streams()["StreamNames"]
    if tagged(kinesis.list_tags_for_stream(StreamName=n)["Tags"])
]
firehose = boto3.client("firehose", region_name=region)
left["firehose_streams"] = [
    n for n in firehose.list_delivery_streams()["DeliveryStreamNames"]
    if tagged(firehose.list_tags_for_delivery_stream(DeliveryStreamName=n)["Tags"])
]
apigw = boto3.client("apigateway", region_name=region)
left["rest_apis"] = [a["id"] for a in apigw.get_rest_apis()["items"] if tagged(a.get("tags"))]
kafka = boto3.client("kafka", region_name=region)
left["msk_clusters"] = [
    c["ClusterName"] for c in kafka.list_clusters()["ClusterInfoList"]
    if tagged(kafka.list_tags_for_resource(ResourceArn=c["ClusterArn"])["Tags"])
]
print(json.dumps({k: v for k, v in left.items() if v}, indent=1, sort_keys=True))
