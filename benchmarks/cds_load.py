"""Load test of the CDS Hooks service on loopback: `acr-kg serve` in its own process, JWT checks on,
an open-loop client at a fixed rate for a fixed time (a fixed number of calls, and a hard deadline).

Each valid call is an order-select for a patient of its own: the seed patient's record (tests/data/cds)
under fresh ids with every date moved by the same random number of days (up to a year back), its prefetch
padded with 30 uncoded vital-sign observations, as an EHR sends a chart, and one or two draft orders (US
axilla, breast MRI). A share of the calls (default 5 %) is malformed: bad JSON, wrong hook, no context, a body
over the size limit, an STU3 resource. Latency is measured from each call's scheduled start (so a
stalled server cannot hide its queue). Beside it, the baseline of the same run: the same valid calls
answered in-process by the same service object, without HTTP, JSON or JWT.

Prints counts by status, p50/p99 per class and the baseline; exits 1 on any 5xx or timeout.
Target: 0 responses 5xx, p99 <= 50 ms for valid calls at 50 calls/s.

    python benchmarks/cds_load.py [--rate 50] [--seconds 60] [--malformed 0.05] [--patients 0]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data" / "cds"
ISSUER = "https://ehr.example.org/load-test"
MAX_BODY = 1024 * 1024
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?=T|$)")


def record() -> dict:
    prefetch = json.loads((DATA / "seed-patient-prefetch.json").read_text())["prefetch"]
    vitals = [{"resourceType": "Observation", "id": f"seed-vital-{i}", "status": "final",
               "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                         "code": "vital-signs"}]}],
               "code": {"text": "Body weight"}, "subject": {"reference": "Patient/seed"},
               "effectiveDateTime": f"2026-{3 + i % 8:02d}-{1 + i % 27:02d}",
               "valueQuantity": {"value": 64 + i % 5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
              for i in range(30)]
    observations = prefetch["observations"]
    observations["entry"] += [{"resource": v, "search": {"mode": "match"}} for v in vitals]
    return prefetch


def another_patient(value, patient: str, days: int):
    """The seed record as another patient's: ids and references renamed, every date moved by ``days``."""
    if isinstance(value, dict):
        return {key: (patient + item[len("seed"):] if key == "id" and isinstance(item, str) and item.startswith("seed")
                      else another_patient(item, patient, days)) for key, item in value.items()}
    if isinstance(value, list):
        return [another_patient(item, patient, days) for item in value]
    if isinstance(value, str):
        value = re.sub(r"(?<=/)seed(?=$|-)", patient, value)  # references and fullUrls
        return DATE.sub(lambda m: (dt.date.fromisoformat(m.group(0)) + dt.timedelta(days=days)).isoformat(), value)
    return value


def valid_call(index: int, prefetch: dict, drafts: dict, patients: int = 0) -> dict:
    """Call number ``index``: for patient number ``index`` (``index`` modulo ``patients`` when given)."""
    number = index % patients if patients else index
    rng = random.Random(number)
    patient = f"load{number}"
    prefetch, drafts = another_patient([prefetch, drafts], patient, -rng.randint(0, 365))
    names = (["us-axilla"], ["mri-breast"], ["us-axilla", "mri-breast"])[index % 3]
    entries = [{"resource": drafts[n]} for n in names]
    return {"hook": "order-select", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/example", "patientId": patient,
                        "selections": [f"ServiceRequest/{e['resource']['id']}" for e in entries],
                        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": entries}},
            "prefetch": prefetch}


def malformed_call(index: int, good: dict) -> tuple[str, bytes]:
    kind = ("bad-json", "wrong-hook", "no-context", "too-large", "stu3")[index % 5]
    if kind == "bad-json":
        return kind, json.dumps(good).encode()[:-7]
    if kind == "wrong-hook":
        return kind, json.dumps(good | {"hook": "patient-view"}).encode()
    if kind == "no-context":
        return kind, json.dumps({k: v for k, v in good.items() if k != "context"}).encode()
    if kind == "too-large":
        return kind, json.dumps(good | {"padding": "x" * MAX_BODY}).encode()
    stu3 = json.loads(json.dumps(good))
    stu3["context"]["draftOrders"]["entry"][0]["resource"]["resourceType"] = "ProcedureRequest"
    return kind, json.dumps(stu3).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def baseline(calls: list[dict], repeat: int) -> list[float]:
    """The same valid calls answered in-process (engine, FHIR mapping, cards, SQLite; no HTTP/JWT)."""
    from kg.cds.models import HookRequest
    from kg.cds.service import HookService
    from kg.cds.settings import Settings

    if repeat <= 0:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        service = HookService.create(Settings(verify_jwt=False, database=Path(tmp) / "baseline.sqlite3"))
        requests = [HookRequest.model_validate(c) for c in calls[:repeat]]
        service.answer("order-select", requests[0])  # warm-up
        times = []
        for request in requests:
            start = time.perf_counter()
            service.answer("order-select", request)
            times.append((time.perf_counter() - start) * 1000)
        service.close()
    return times


async def drive(url: str, bodies: list[tuple[str, bytes, str]], rate: float, deadline: float):
    results: list[tuple[str, int | None, float]] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=deadline, limits=limits) as client:
        start = time.perf_counter() + 0.5

        async def one(i: int, kind: str, body: bytes, authorization: str):
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                response = await client.post(url, content=body, headers={
                    "Content-Type": "application/json", "Authorization": authorization})
                status = response.status_code
            except httpx.HTTPError:
                status = None
            results.append((kind, status, (time.perf_counter() - scheduled) * 1000))

        tasks = [asyncio.create_task(one(i, *item)) for i, item in enumerate(bodies)]
        done, pending = await asyncio.wait(tasks, timeout=len(bodies) / rate + deadline)
        for task in pending:
            task.cancel()
            results.append(("timeout", None, float("nan")))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--malformed", type=float, default=0.05, help="share of malformed calls")
    parser.add_argument("--patients", type=int, default=0,
                        help="distinct patients the calls cycle through (0: every call is another patient)")
    parser.add_argument("--baseline", type=int, default=100, help="in-process calls for the baseline")
    parser.add_argument("--deadline", type=float, default=20.0,
                        help="seconds after the last scheduled call before unanswered calls count as timeouts")
    args = parser.parse_args()
    total = int(args.rate * args.seconds)
    every = max(1, round(1 / args.malformed)) if args.malformed > 0 else 0

    prefetch = record()
    drafts = json.loads((DATA / "seed-patient-draft-orders.json").read_text())["orders"]
    private = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key())) | {"kid": "load", "alg": "ES384"}
    port = free_port()
    url = f"http://127.0.0.1:{port}/cds-services/order-select"

    calls, bodies = [], []
    now = int(time.time())
    for i in range(total):
        call = valid_call(i, prefetch, drafts, args.patients)
        calls.append(call)
        kind, body = malformed_call(i // every, call) if every and i % every == every - 1 else ("valid", json.dumps(call).encode())
        claims = {"iss": ISSUER, "aud": url, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        bodies.append((kind, body, "Bearer " + jwt.encode(claims, private, algorithm="ES384", headers={"kid": "load"})))
    size = len(json.dumps(calls[0]).encode())

    with tempfile.TemporaryDirectory() as tmp:
        trust = Path(tmp) / "trust.json"
        trust.write_text(json.dumps({"issuers": {ISSUER: {"keys": [jwk]}}}))
        log = (Path(tmp) / "server.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "kg", "serve", "--port", str(port), "--trust", str(trust),
             "--database", str(Path(tmp) / "load.sqlite3"), "--max-body-bytes", str(MAX_BODY)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1"})
        try:
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if server.poll() is not None:
                        raise SystemExit(f"server exited: {(Path(tmp) / 'server.log').read_text()[-2000:]}")
                    time.sleep(0.1)
            wall = time.perf_counter()
            results = asyncio.run(drive(url, bodies, args.rate, deadline=args.deadline))
            wall = time.perf_counter() - wall
        finally:
            server.terminate()  # graceful: waits for the calls still queued, within a bound
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()

    base = baseline(calls, args.baseline)
    statuses = Counter((kind if kind in ("valid", "timeout") else "malformed", status) for kind, status, _ in results)
    valid_ms = [ms for kind, status, ms in results if kind == "valid" and status == 200]
    bad_ms = [ms for kind, status, ms in results if kind not in ("valid", "timeout") and status is not None]
    server_errors = sum(n for (_, status), n in statuses.items() if status is None or status >= 500)
    print(f"cds load: {total} calls at {args.rate:g}/s for {args.seconds:g} s on loopback "
          f"({wall:.1f} s wall), {sum(1 for b in bodies if b[0] != 'valid')} malformed; valid body {size / 1024:.1f} KiB; "
          f"{args.patients or 'a new patient each call,'} {'distinct patients' if args.patients else ''}".rstrip(" ,"))
    for (kind, status), n in sorted(statuses.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        print(f"  {kind:9s} {status if status is not None else 'no answer'}: {n}")
    print(f"  valid calls, HTTP + JWT:   p50 {percentile(valid_ms, 50):6.1f} ms   p99 {percentile(valid_ms, 99):6.1f} ms"
          f"   max {max(valid_ms, default=float('nan')):6.1f} ms   (target p99 <= 50 ms)")
    print(f"  malformed calls:           p50 {percentile(bad_ms, 50):6.1f} ms   p99 {percentile(bad_ms, 99):6.1f} ms")
    print(f"  baseline, in-process:      p50 {percentile(base, 50):6.1f} ms   p99 {percentile(base, 99):6.1f} ms"
          f"   ({len(base)} of the same valid calls, no HTTP/JSON/JWT)")
    print(f"  5xx or no answer: {server_errors}")
    ok = server_errors == 0 and statuses.get(("valid", 200), 0) == sum(n for (k, _), n in statuses.items() if k == "valid")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
