"""logtrial: property-based conformance and chaos testing for Kafka-compatible brokers."""

__version__ = "0.1.0"
