"""SQS fixtures: moto server on 127.0.0.1 (filled in by the SQS forwarder work)."""
