"""Local AWS API emulator for molecule/aws: moto's server with one fidelity fix.

moto 5.2.5 answers Kafka (MSK) ListClusters with five fields per cluster, where AWS returns the
whole ClusterInfo (as DescribeCluster does). community.aws.msk_cluster reads NumberOfBrokerNodes and
CurrentVersion from ListClusters, so against unpatched moto a second run and the deletion crash.
This makes ListClusters return what DescribeCluster returns, as AWS does.
EC2 DescribeTags: moto files NAT gateway tags under resource type "nat-gateway" where AWS says
"natgateway", so a resource-type filter (amazon.aws.ec2_vpc_nat_gateway uses one) finds no tags and the
module re-tags on every run. This files them under "natgateway". Nothing else is changed.
Usage: python moto_server.py -H 127.0.0.1 -p PORT   (same arguments as moto_server)
"""

import moto.ec2.utils
from moto.kafka.models import KafkaBackend
from moto.server import main


def _list_clusters(self, cluster_name_filter=None):
    return [
        self.describe_cluster(arn)
        for arn, cluster in self.clusters.items()
        if not cluster_name_filter or cluster.cluster_name.startswith(cluster_name_filter)
    ]


KafkaBackend.list_clusters = _list_clusters
moto.ec2.utils.EC2_PREFIX_TO_RESOURCE["nat"] = "natgateway"

if __name__ == "__main__":
    main()
