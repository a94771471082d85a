"""Filter: the bucket policy every bucket of the project carries (requests without TLS are denied)."""

from __future__ import annotations

import json
from typing import Any


def s3_tls_only_policy(bucket: str) -> str:
    """The policy (JSON) that denies every request to the bucket and its objects made without TLS
    (aws:SecureTransport false), whoever makes it: encryption at rest is not enough when a client
    can still read or write in the clear."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyRequestsWithoutTls",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        },
        sort_keys=True,
    )


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"s3_tls_only_policy": s3_tls_only_policy}
