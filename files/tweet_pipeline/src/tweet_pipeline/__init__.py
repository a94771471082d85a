"""Twitter/X -> Kafka -> sinks streaming pipeline (producer and consumer)."""

__version__ = "0.1.0"
