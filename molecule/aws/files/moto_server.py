"""Local AWS API emulator for molecule/aws: moto's server with one fidelity fix.

moto 5.2.5 answers Kafka (MSK) ListClusters with five fields per cluster, where AWS returns the
whole ClusterInfo (as DescribeCluster does). community.aws.msk_cluster reads NumberOfBrokerNodes and
CurrentVersion from ListClusters, so against unpatched moto a second run and the deletion crash.
This makes ListClusters return what DescribeCluster returns, as AWS does.
EC2 DescribeTags: moto files NAT gateway tags under resource type "nat-gateway" where AWS says
"natgateway", so a resource-type filter (amazon.aws.ec2_vpc_nat_gateway uses one) finds no tags and the
module re-tags on every run. This files them under "natgateway".
Kafka (MSK) GetBootstrapBrokers is not implemented in moto: this answers it as AWS does for an ACTIVE
cluster, one string per open client listener (plaintext 9092, TLS 9094, IAM 9098, one host name per
broker). moto keeps every cluster CREATING, where AWS would refuse: the role's client switch is what
is tested.
S3 bucket policies: moto ignores their conditions, so a statement that denies requests without TLS
(aws:SecureTransport false) would deny every request. This server takes HTTPS only (create.yml), so no
request it sees matches such a statement, and this drops it before moto evaluates the policy.
IAM DeletePolicy: moto deletes a managed policy that is still attached, where AWS refuses
(DeleteConflict); this refuses too, so a teardown that forgets to detach fails here as on AWS.
Nothing else is changed.
Usage: python moto_server.py -H 127.0.0.1 -p PORT   (same arguments as moto_server)
"""

import json
from urllib.parse import unquote

import moto.ec2.utils
from moto.iam.exceptions import DeleteConflictException
from moto.iam.models import IAMBackend
from moto.kafka.models import KafkaBackend
from moto.kafka.responses import KafkaResponse
from moto.s3.models import FakeBucket
from moto.server import main


def _list_clusters(self, cluster_name_filter=None):
    return [
        self.describe_cluster(arn)
        for arn, cluster in self.clusters.items()
        if not cluster_name_filter or cluster.cluster_name.startswith(cluster_name_filter)
    ]


def _get_bootstrap_brokers(self):
    arn = unquote(self.parsed_url.path.split("/clusters/")[-1]).removesuffix("/bootstrap-brokers")
    cluster = self.kafka_backend.clusters[arn]
    in_transit = (cluster.encryption_info or {}).get("encryptionInTransit", {}).get("clientBroker", "TLS")
    auth = cluster.client_authentication or {}
    iam = auth.get("sasl", {}).get("iam", {}).get("enabled", False)
    unauthenticated = auth.get("unauthenticated", {}).get("enabled", not iam)
    hosts = [
        f"b-{n}.{cluster.cluster_name}.{cluster.cluster_id[:6]}.c2.kafka.{cluster.region_name}.amazonaws.com"
        for n in range(1, cluster.number_of_broker_nodes + 1)
    ]
    fields = {}
    if in_transit in ("PLAINTEXT", "TLS_PLAINTEXT"):
        fields["bootstrapBrokerString"] = 9092
    if unauthenticated and in_transit in ("TLS", "TLS_PLAINTEXT"):
        fields["bootstrapBrokerStringTls"] = 9094
    if iam:
        fields["bootstrapBrokerStringSaslIam"] = 9098
    return json.dumps({field: ",".join(f"{h}:{port}" for h in hosts) for field, port in fields.items()})


_moto_get_permission = FakeBucket.get_permission
PLAINTEXT_ONLY = {"Bool": {"aws:SecureTransport": "false"}}


def _get_permission(self, action, resource):
    if self.policy is None:
        return _moto_get_permission(self, action, resource)
    policy = json.loads(self.policy)
    statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
    policy["Statement"] = [s for s in statements if s.get("Condition") != PLAINTEXT_ONLY]
    original, self.policy = self.policy, json.dumps(policy).encode()
    try:
        return _moto_get_permission(self, action, resource)
    finally:
        self.policy = original


_moto_delete_policy = IAMBackend.delete_policy


def _delete_policy(self, policy_arn):
    if self.get_policy(policy_arn).attachment_count > 0:
        raise DeleteConflictException("Cannot delete a policy attached to entities.")
    _moto_delete_policy(self, policy_arn)


IAMBackend.delete_policy = _delete_policy
KafkaBackend.list_clusters = _list_clusters
FakeBucket.get_permission = _get_permission
KafkaResponse.get_bootstrap_brokers = _get_bootstrap_brokers
moto.ec2.utils.EC2_PREFIX_TO_RESOURCE["nat"] = "natgateway"

if __name__ == "__main__":
    main()
