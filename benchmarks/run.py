"""Run every benchmark scenario and print one table (plus ``results/latest.json``; a
``--quick`` run writes ``results/quick.json`` instead, so it never replaces real numbers).

    .venv/bin/python benchmarks/run.py            # full run, a few minutes
    .venv/bin/python benchmarks/run.py --quick    # smoke run, well under a minute

Each scenario runs in worker processes; every figure is a ratio to a bare app measured in
the same process, interleaved, as the median of several repetitions (absolute numbers on
shared machines drift). fastapi-events 0.12.2 runs in its own virtual environment under
``benchmarks/.venvs/``, created from PyPI on the first run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from consume import table as consume_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"
QUICK_RESULTS = HERE / "results" / "quick.json"
OLD_VERSION = "0.12.2"
OLD_VENV = HERE / ".venvs" / f"fastapi-events-{OLD_VERSION}"

#: Targets of issue 6 (ratio to the bare Starlette app, in process).
TARGETS = {"0 events": 0.90, "1 event": 0.70, "10 events": 0.30}


def worker(python: Path | str, script: str, *args: str) -> dict[str, Any]:
    """Run ``script`` (a worker of this directory) and parse its JSON line."""
    result = subprocess.run(
        [str(python), str(HERE / script), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE,
        timeout=3600,  # consume.py runs several scripts of up to 900 s
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def old_python() -> Path | None:
    """The 0.12.2 venv's interpreter, created (same FastAPI/Starlette as ours) if needed."""
    python = OLD_VENV / "bin" / "python"
    if python.exists():
        return python
    from importlib.metadata import version

    pins = [f"fastapi-events=={OLD_VERSION}", f"fastapi=={version('fastapi')}"]
    pins += [f"starlette=={version('starlette')}", f"uvicorn=={version('uvicorn')}"]
    print(f"creating {OLD_VENV} with {' '.join(pins)} ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(OLD_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"could not create the 0.12.2 venv: {exc}", file=sys.stderr)
        return None
    return python


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def asgi_overhead(quick: bool) -> dict[str, Any]:
    """Scenarios 1-2: ours and 0.12.2, alternating processes; medians of all repetitions."""
    pythons: dict[str, Path | str] = {"ours": sys.executable}
    if (old := old_python()) is not None:
        pythons[OLD_VERSION] = old
    rounds, reps, budget = (1, 1, "0.05") if quick else (4, 3, "0.2")
    collected: dict[str, dict[str, list[float]]] = {name: {} for name in pythons}
    for round_ in range(rounds):
        order = list(pythons.items())
        for name, python in order if round_ % 2 == 0 else reversed(order):
            out = worker(
                python,
                "asgi_overhead.py",
                "--reps",
                str(reps),
                "--budget",
                budget,
                "--offset",
                str(round_),
            )
            for row, values in out["results"].items():
                collected[name].setdefault(row, []).extend(values["ratios"])
    return {name: {row: median(v) for row, v in rows.items()} for name, rows in collected.items()}


def dispatch_cost(quick: bool) -> dict[str, float]:
    """Scenario 3: ns per dispatch(), minus the empty loop."""
    out = worker(
        sys.executable, "dispatch_cost.py", *(["--reps", "1", "--loops", "5"] if quick else [])
    )
    ns = {name: median(values) for name, values in out["ns_per_call"].items()}
    baseline = ns.pop("empty loop (baseline)")
    return {name: value - baseline for name, value in ns.items()}


def tracing_cost(quick: bool) -> dict[str, dict[str, float]]:
    """Scenario 4: per-event cost in each tracing mode, alternating processes."""
    modes = ("not-installed", "no-sdk", "sdk")
    rounds, args = (1, ["--reps", "1", "--budget", "0.05"]) if quick else (4, ["--reps", "3"])
    ns: dict[str, list[float]] = {mode: [] for mode in modes}
    for round_ in range(rounds):
        for mode in modes if round_ % 2 == 0 else reversed(modes):
            out = worker(sys.executable, "tracing_cost.py", mode, *args, "--offset", str(round_))
            ns[mode].extend(out["ns_per_event"])
    base = median(ns["not-installed"])
    return {
        mode: {"ns_per_event": median(v), "vs_not_installed": median(v) / base}
        for mode, v in ns.items()
    }


def latency(quick: bool) -> dict[str, Any]:
    """Scenario 5: uvicorn servers in subprocesses, the load generator in another."""
    servers: dict[str, subprocess.Popen[str]] = {}
    targets: list[str] = []
    try:
        for mode in ("bare", "events"):
            process = subprocess.Popen(
                [sys.executable, str(HERE / "latency_server.py"), mode],
                stdout=subprocess.PIPE,
                text=True,
                cwd=HERE,
            )
            assert process.stdout is not None
            servers[mode] = process
            port = json.loads(process.stdout.readline())["port"]
            targets += ["--target", f"{mode}=http://127.0.0.1:{port}"]
        args = ["--requests", "300", "--reps", "1", "--warmup", "50"] if quick else []
        out = worker(sys.executable, "latency_client.py", *targets, *args)
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(10)
    return {
        name: {
            kind: {k: median([rep[k] for rep in reps]) for k in ("p50_ms", "p99_ms", "rps")}
            for kind, reps in kinds.items()
        }
        for name, kinds in out.items()
    }


def forwarding(quick: bool) -> dict[str, Any]:
    """Scenario 6: 10,000 events to moto's SQS server."""
    return worker(sys.executable, "forwarding.py", *(["--events", "1000"] if quick else []))


#: The keys of the "forwarding_rtt" section (a chart is built from them).
RTT_KEYS = (
    "delays_ms",
    "events_per_s",
    "calls_per_event",
    "stall_p99_ms",
    "stall_max_ms",
    "ceiling_events_per_s",
    "rss_growth_mb",
)


def forwarding_rtt(quick: bool) -> dict[str, Any]:
    """Scenario 7: SQS forwarding at +0/5/20/50 ms per call (light SQS server, delaying
    proxy); the other measurements of ``forwarding_rtt.py`` go under ``details``."""
    out = worker(sys.executable, "forwarding_rtt.py", "--json", *(["--quick"] if quick else []))
    section = {key: out[key] for key in RTT_KEYS}
    section["details"] = {key: value for key, value in out.items() if key not in RTT_KEYS}
    return section


def consume(quick: bool) -> list[dict[str, Any]]:
    """Scenario 8: every ``consume_*.py`` (events/s consumed against the raw client, and
    end-to-end latency where measured), each in its own process; a source whose server
    is missing is reported as skipped (see ``consume.py``)."""
    out = worker(sys.executable, "consume.py", *(["--quick"] if quick else []))
    results: list[dict[str, Any]] = out["consume"]
    return results


def machine() -> dict[str, Any]:
    model = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def table(results: dict[str, Any]) -> str:
    lines = [f"machine: {results['machine']}", ""]
    overhead = results["asgi_overhead"]
    names = list(overhead)
    lines.append("1-2. in-process ASGI, requests/s ratio to the bare app (higher is better)")
    lines.append(f"  {'scenario':<40}" + "".join(f"{n:>10}" for n in names) + "    target")
    for row in overhead["ours"]:
        target = next((f">= {t:.2f}" for k, t in TARGETS.items() if row == f"starlette: {k}"), "")
        cells = "".join(f"{overhead[n].get(row, float('nan')):>10.3f}" for n in names)
        lines.append(f"  {row:<40}{cells}    {target}")
    lines += ["", "3. dispatch(), ns per call (target plain dict <= 1000 ns)"]
    lines += [f"  {k:<40}{v:>10.0f}" for k, v in results["dispatch_ns"].items()]
    lines += ["", "4. tracing, ns per event (dispatch + handle); target no-sdk <= 1.10x"]
    lines += [
        f"  {k:<40}{v['ns_per_event']:>10.0f}{v['vs_not_installed']:>10.2f}x"
        for k, v in results["tracing"].items()
    ]
    lines += ["", "5. uvicorn, client latency ms (handler sleeps 100 ms; target +<= 5 ms p50)"]
    for name, kinds in results["latency"].items():
        for kind, v in kinds.items():
            lines.append(
                f"  {name + ' / ' + kind:<40}p50 {v['p50_ms']:>7.2f}  p99 {v['p99_ms']:>7.2f}"
                f"  {v['rps']:>8.0f} req/s"
            )
    fwd = results["forwarding"]
    lines += ["", "6. forwarding to moto SQS (targets <= 0.1 calls/event, stall <= 5 ms)"]
    if "error" in fwd:
        lines.append(f"  {fwd['error']}")
    else:
        lines.append(
            f"  {fwd['events']} events: {fwd['events_per_s']:.0f} events/s, "
            f"{fwd['send_message_batch_calls'] / fwd['events']:.3f} SendMessageBatch/event, "
            f"{fwd['messages_stored']} stored, largest loop stall "
            f"{fwd['stall']['max_ms']:.2f} ms (p99 {fwd['stall']['p99_ms']:.2f} ms; "
            f"same requests without forwarding {fwd['no_forwarding_stall']['max_ms']:.2f} ms; "
            f"idle loop {fwd['idle_stall']['max_ms']:.2f} ms)"
        )
    lines += ["", "7. SQS forwarding with +N ms per call (light SQS server; targets at +20 ms:"]
    lines.append("   >= 3000 events/s, <= 0.1 calls/event, stall p99 <= 5 ms, max <= 10 ms)")
    lines += _rtt_lines(results["forwarding_rtt"])
    lines += ["", "8. consuming, events/s into a no-op handler vs. the raw client (target ratio"]
    lines.append("   >= 0.8); end-to-end latency from dispatch() in an app to the handler")
    lines += consume_table(results["consume"])
    return "\n".join(lines)


def _rtt_lines(rtt: dict[str, Any]) -> list[str]:
    details = rtt["details"]
    lines = [
        f"  ceiling (botocore CPU per call {details['botocore_cpu_per_call_ms']:.2f} ms): "
        f"{rtt['ceiling_events_per_s']:.0f} events/s; stalls while paced at "
        f"{details['paced_rate_events_per_s']:.0f} events/s; peak RSS growth "
        f"{rtt['rss_growth_mb']:.1f} MB"
    ]
    for i, delay in enumerate(rtt["delays_ms"]):
        lines.append(
            f"  +{delay:<4.0f} {rtt['events_per_s'][i]:>8.0f} events/s "
            f"({details['share_of_ceiling'][i]:.2f} of ceiling), "
            f"{rtt['calls_per_event'][i]:.3f} calls/event, stall p99 "
            f"{rtt['stall_p99_ms'][i]:.2f} ms, max {rtt['stall_max_ms'][i]:.2f} ms"
        )
    return lines


def main() -> None:
    """Run the scenarios, print the table, write the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    started = time.time()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    results["asgi_overhead"] = asgi_overhead(args.quick)
    results["dispatch_ns"] = dispatch_cost(args.quick)
    results["tracing"] = tracing_cost(args.quick)
    results["latency"] = latency(args.quick)
    results["forwarding"] = forwarding(args.quick)
    results["forwarding_rtt"] = forwarding_rtt(args.quick)
    results["consume"] = consume(args.quick)
    results["seconds"] = round(time.time() - started)
    path = QUICK_RESULTS if args.quick else RESULTS
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\n({results['seconds']} s; JSON in {path.relative_to(HERE.parent)})")


if __name__ == "__main__":
    main()
