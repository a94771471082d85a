"""Prometheus metrics. Each app gets its own registry (tests run several apps per process)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tweet_pipeline import metrics_server
from tweet_pipeline.config import MetricsConfig

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class ProducerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "tweet_producer_received",
            "Tweets handed over by the source (spooled or refused)",
            registry=r,
        )
        self.published = Counter(
            "tweet_producer_published", "Tweets acknowledged by Kafka", registry=r
        )
        self.spooled = Counter(
            "tweet_producer_spooled", "Tweets written to the on-disk spool", registry=r
        )
        self.spool_depth = Gauge(
            "tweet_producer_spool_depth", "Tweets in the spool not yet acknowledged", registry=r
        )
        self.spool_bytes = Gauge(
            "tweet_producer_spool_bytes", "Key + value bytes of the spooled tweets", registry=r
        )
        self.spool_full = Gauge(
            "tweet_producer_spool_full",
            "1 while the spool is at max_records/max_bytes or the disk is full",
            registry=r,
        )
        self.spool_rejected = Counter(
            "tweet_producer_spool_rejected",
            "Stream tweets refused because the spool was full (reason: max_records, max_bytes, "
            "disk_full)",
            ["reason"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "tweet_producer_dead_lettered",
            "Tweets Kafka can never accept, sent to the dead-letter topic (reason: too_large, "
            "invalid_record)",
            ["reason"],
            registry=r,
        )
        self.errors = Counter("tweet_producer_errors", "Errors by kind", ["kind"], registry=r)
        self.reconnects = Counter(
            "tweet_producer_stream_reconnects",
            "Stream reconnects by reason (network, http, rate_limit, closed)",
            ["reason"],
            registry=r,
        )
        self.publish_latency = Histogram(
            "tweet_producer_publish_latency_seconds",
            "Time from taking a tweet to Kafka's acknowledgement",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter("tweet_consumer_consumed", "Records consumed", registry=r)
        self.written = Counter(
            "tweet_consumer_written", "Tweets written, per sink", ["sink"], registry=r
        )
        self.sink_errors = Counter(
            "tweet_consumer_sink_errors", "Sink write/flush errors", ["sink"], registry=r
        )
        self.dead_lettered = Counter(
            "tweet_consumer_dead_lettered",
            "Malformed records the DLQ acknowledged",
            registry=r,
        )
        self.paused = Gauge(
            "tweet_consumer_paused",
            "1 while fetching is paused because a sink or the DLQ keeps failing",
            registry=r,
        )
        self.uncommitted = Gauge(
            "tweet_consumer_uncommitted_records",
            "Records consumed since the last offset commit",
            registry=r,
        )
        self.commits = Counter("tweet_consumer_commits", "Offset commits", registry=r)
        self.errors = Counter("tweet_consumer_errors", "Errors by kind", ["kind"], registry=r)
        self.lag = Gauge(
            "tweet_consumer_lag",
            "End offset minus position, per partition",
            ["topic", "partition"],
            registry=r,
        )
        self.end_to_end_latency = Histogram(
            "tweet_consumer_end_to_end_latency_seconds",
            "From the producer taking a tweet (x-received-at) to the consumer reading it",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )


def serve(
    config: MetricsConfig, registry: CollectorRegistry
) -> metrics_server.MetricsServer | None:
    """Serve /metrics in a daemon thread (tweet_pipeline.metrics_server), unless disabled."""
    if not config.enabled:
        return None
    server = metrics_server.start(config, registry)
    scheme = "https" if config.tls else "http"
    auth = " (basic auth)" if config.basic_auth else ""
    log.info("metrics on %s://%s:%d/metrics%s", scheme, config.host, config.port, auth)
    return server
