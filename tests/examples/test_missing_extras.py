"""Each forwarding example, run without its extra, exits with one line naming the extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


@pytest.mark.parametrize(
    ("example", "blocked", "extra"),
    [
        ("sqs_forwarding.py", "boto3", "aws,examples"),
        ("pubsub_forwarding.py", "google.cloud.pubsub_v1", "google,examples"),
        ("redis_forwarding.py", "redis", "redis,examples"),
        ("kafka_forwarding.py", "aiokafka", "kafka,examples"),
        ("rabbitmq_forwarding.py", "aio_pika", "rabbitmq,examples"),
        ("sns_forwarding.py", "boto3", "aws,examples"),
        ("nats_forwarding.py", "nats", "nats,examples"),
        ("catalogue.py", "boto3", "aws,redis,examples"),
        ("catalogue.py", "redis", "aws,redis,examples"),
        ("sqs_consumer.py", "boto3", "aws,examples"),
        ("kafka_consumer.py", "aiokafka", "kafka,examples"),
        ("nats_consumer.py", "nats", "nats,examples"),
        ("http_ingress.py", "uvicorn", "examples"),
        ("rabbitmq_consumer.py", "aio_pika", "rabbitmq,examples"),
        ("pubsub_consumer.py", "google.cloud.pubsub_v1", "google,examples"),
    ],
)
def test_missing_extra_is_one_line_naming_it(example: str, blocked: str, extra: str) -> None:
    """The example stops with exit status 1 and a single line: pip install the extra."""
    code = (
        f"import sys, runpy; sys.modules[{blocked!r}] = None; "
        f"runpy.run_path({str(EXAMPLES / example)!r}, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"this example needs {blocked}: pip install -e '.[{extra}]'"
    ]
