"""Prints, as JSON, what verify.yml checks of the emulated account.

Usage: python describe.py KIND PREFIX REGION
  firehose         the archiving delivery stream <PREFIX>-tweets-archive
  integration      the POST /records integration of the REST API <PREFIX>-ingest
  msk              the MSK cluster <PREFIX>-msk
  msk-ports        the TCP ports the MSK brokers' security group <PREFIX>-msk lets in
  stream           the Kinesis data stream <PREFIX>-tweets (its encryption)
  bucket-policies  the policy of each bucket whose name starts with PREFIX
  iam-policies     the default version of each customer managed policy named PREFIX*
  iam-roles        under the IAM path PATH (PREFIX here): each role (path, trust, attached and inline
                   policies), instance profile (path, roles); and every customer managed policy (path)
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
elif kind == "msk-ports":
    groups = boto3.client("ec2", region_name=region).describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [prefix + "-msk"]}]
    )["SecurityGroups"]
    assert len(groups) == 1, groups
    answer = {"ports": sorted({rule["FromPort"] for rule in groups[0]["IpPermissions"]})}
elif kind == "stream":
    answer = boto3.client("kinesis", region_name=region).describe_stream_summary(
        StreamName=prefix + "-tweets"
    )["StreamDescriptionSummary"]
elif kind == "bucket-policies":
    s3 = boto3.client("s3", region_name=region)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(prefix)]
    answer = {name: json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) for name in names}
elif kind == "iam-policies":
    iam = boto3.client("iam", region_name=region)
    answer = {}
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        if policy["PolicyName"].startswith(prefix):
            version = iam.get_policy_version(
                PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"]
            )["PolicyVersion"]["Document"]
            answer[policy["PolicyName"]] = json.loads(version) if isinstance(version, str) else version
elif kind == "iam-roles":
    iam = boto3.client("iam", region_name=region)

    def trust(role):
        document = role["AssumeRolePolicyDocument"]
        return json.loads(document) if isinstance(document, str) else document

    # moto ignores PathPrefix: filtered here as well.
    roles = [r for r in iam.list_roles(PathPrefix=prefix)["Roles"] if r["Path"].startswith(prefix)]
    answer = {
        "roles": {
            r["RoleName"]: {
                "Path": r["Path"],
                "AssumeRolePolicyDocument": trust(iam.get_role(RoleName=r["RoleName"])["Role"]),
                "AttachedPolicies": sorted(
                    p["PolicyName"]
                    for p in iam.list_attached_role_policies(RoleName=r["RoleName"])["AttachedPolicies"]
                ),
                "InlinePolicies": sorted(iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]),
            }
            for r in roles
        },
        "instance_profiles": {
            p["InstanceProfileName"]: {"Path": p["Path"], "Roles": [r["RoleName"] for r in p["Roles"]]}
            for p in iam.list_instance_profiles(PathPrefix=prefix)["InstanceProfiles"]
            if p["Path"].startswith(prefix)
        },
        "policies": {p["PolicyName"]: {"Path": p["Path"]} for p in iam.list_policies(Scope="Local")["Policies"]},
    }
else:
    sys.exit("unknown kind " + kind)
answer.pop("ResponseMetadata", None)
print(json.dumps(answer, default=str))
