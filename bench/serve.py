"""Serving throughput and latency: ``keel serve`` against a naive FastAPI server and the ceiling.

Subjects, each a separate process driven by the same load generator (``wrk -t1``, a Lua script
that cycles through the same one-row payloads) at each concurrency level:

1. ``keel serve`` with dynamic batching (``--server``, ``--protocol`` and ``--workers`` take
   several values: every combination is its own subject);
2. naive: a plain FastAPI app under uvicorn, one worker, ``predictor.predict_proba(records)`` once
   per request in a ``def`` endpoint, keel's v1 route and JSON (``bench/_serve_naive.py``);
3. ceiling: the raw batched forward pass in this process, no HTTP: ``predictor.predict_outputs``
   over batches of ``--max-batch-size`` preprocessed rows (its latencies are per batch).

Every request carries one row, the online case: batching is the server's job. Models: the digits
CNN of ``examples/digits.toml`` and a wide MLP (4096 x 4) on digits, compute-bound, both trained
for ``--epochs`` epochs into a temporary workspace (``KEEL_HOME``). A model's servers are started
one at a time and wait idle while another is measured; points run one at a time, interleaved (the
order rotates per concurrency level and round), each after a 1 s warm-up. Neither server writes an
access log (``--access-log`` turns keel's on). The machine is noisy, so the ratios between
subjects measured side by side are the figures to read, not req/s; ``--rounds`` gives medians.

Targets: at c=64 on digits, keel >= 3x naive req/s with p99 <= 50 ms; on the wide MLP, keel
rows/s >= 70% of the ceiling; at c=1, keel p50 <= 1.2x naive p50.

    python bench/serve.py                          # 10 s per point
    python bench/serve.py --quick                  # 3 s per point
    python bench/serve.py --server uvicorn granian --protocol v1 v2binary --workers 1 2
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
CONCURRENCY = (1, 16, 64)
WARMUP_S = 1
N_PAYLOADS = 32  # distinct one-row bodies the generator cycles through
V2_INPUT = "input"
WIDE = {"name": "mlp", "width": 4096, "depth": 4}  # ~50 M multiply-adds per row: compute-bound
# Rows per batch. The wide MLP's batches take ~40 ms: with 64 clients and 64-row batches every
# client waits on the same batch and the model idles while 64 answers go out and 64 requests come
# in; 32-row batches let one half compute while the other half is on the wire.
BATCH = {"digits": 64, "digits_wide": 32}
Payload = tuple[bytes, dict[str, str]]


@dataclass(frozen=True)
class Point:
    """One measurement: a subject at a concurrency level."""

    model: str
    subject: str
    concurrency: int
    req_s: float | None  # 2xx answers per second; None for the in-process ceiling
    rows_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers plus socket errors (connect, read, write, timeout)


# -- workspace ----------------------------------------------------------------------------------


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"


def dump_toml(doc: dict[str, Any]) -> str:
    """A spec dict as TOML: top-level keys, then one table per section (values stay inline)."""
    lines = [f"{k} = {_toml(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for section, body in doc.items():
        if isinstance(body, dict):
            lines += ["", f"[{section}]", *(f"{k} = {_toml(v)}" for k, v in body.items())]
    return "\n".join(lines) + "\n"


def bench_specs(epochs: int) -> dict[str, dict[str, Any]]:
    """The digits example, shortened (no cross-validation, no gates), and its wide-MLP twin."""
    base = tomllib.loads((ROOT / "examples" / "digits.toml").read_text())
    base.pop("evaluate", None)
    base.pop("gates", None)
    base["train"]["epochs"] = epochs
    wide = {**base, "name": "digits_wide", "description": "wide MLP on digits", "model": WIDE}
    return {"digits": base, "digits_wide": wide}


def train(spec: dict[str, Any], workdir: Path, env: dict[str, str]) -> str:
    """``keel run`` the spec into the workspace; the reference of the version it registered."""
    path = workdir / f"{spec['name']}.toml"
    path.write_text(dump_toml(spec))
    cmd = [str(BIN / "keel"), "run", str(path), "--quiet", "--json"]
    done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"keel run {path.name} failed:\n{done.stderr[-2000:]}")
    ref = json.loads(done.stdout)["version"]  # "name:N"
    if not ref:
        raise RuntimeError(f"keel run {path.name} registered no version:\n{done.stdout[-2000:]}")
    return str(ref)


# -- payloads and the load generator ------------------------------------------------------------


def payloads(columns: list[str], protocol: str) -> list[Payload]:
    """One-row request bodies (and their headers) from the first digits images."""
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).data[columns].head(N_PAYLOADS).astype(float)
    out: list[Payload] = []
    for row in frame.to_numpy():
        if protocol == "v1":
            body = json.dumps({"instances": [dict(zip(columns, row.tolist(), strict=True))]})
            out.append((body.encode(), {"Content-Type": "application/json"}))
            continue
        tensor: dict[str, Any] = {"name": V2_INPUT, "shape": [1, len(row)], "datatype": "FP32"}
        if protocol == "v2json":
            tensor["data"] = row.astype(np.float32).tolist()
            body = json.dumps({"inputs": [tensor]})
            out.append((body.encode(), {"Content-Type": "application/json"}))
            continue
        raw = row.astype("<f4").tobytes()
        tensor["parameters"] = {"binary_data_size": len(raw)}
        outputs = [{"name": "probabilities", "parameters": {"binary_data": True}}]
        head = json.dumps({"inputs": [tensor], "outputs": outputs}).encode()
        headers = {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(head)),
        }
        out.append((head + raw, headers))
    return out


def lua_script(bodies: list[Payload], directory: Path) -> Path:
    """A wrk script: POST, cycling through ``bodies``; ``done`` prints exact figures in one line."""
    headers = bodies[0][1]
    if any(h != headers for _, h in bodies):
        raise ValueError("the payloads of one protocol must share their headers")
    paths = []
    for i, (body, _) in enumerate(bodies):
        paths.append(directory / f"body{i}.bin")
        paths[-1].write_bytes(body)
    lines = ['wrk.method = "POST"']
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines += [
        "local bodies, i = {}, 0",
        f"for _, p in ipairs({{{', '.join(json.dumps(str(p)) for p in paths)}}}) do",
        '  local f = assert(io.open(p, "rb")); bodies[#bodies + 1] = f:read("*a"); f:close()',
        "end",
        "request = function()",
        "  i = i % #bodies + 1",
        "  return wrk.format(nil, nil, nil, bodies[i])",
        "end",
        "done = function(s, latency, requests)",
        "  local e = s.errors",
        '  io.write(string.format("KEEL_BENCH %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.1f %.1f\\n",',
        "    s.duration, s.requests, e.connect, e.read, e.write, e.status, e.timeout,",
        "    latency:percentile(50), latency:percentile(99)))",
        "end",
    ]
    script = directory / "load.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def run_wrk(url: str, script: Path, concurrency: int, seconds: float) -> dict[str, float]:
    """``wrk -t1 -c<c> -d<s> --latency -s <script> URL``: the figures its ``done`` hook printed."""
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    done = subprocess.run([*cmd, url], capture_output=True, text=True, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("KEEL_BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    keys = ("us", "requests", "connect", "read", "write", "status", "timeout", "p50", "p99")
    return dict(zip(keys, map(float, line.split()[1:]), strict=True))


# -- subjects -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server process (its own session, so workers die with it) and the route it is driven on."""

    def __init__(self, label: str, cmd: list[str], protocol: str, model: str, logdir: Path):
        self.label, self.protocol, self.port = label, protocol, free_port()
        route = f"/v1/models/{model}:predict" if protocol == "v1" else f"/v2/models/{model}/infer"
        self.url = f"http://{HOST}:{self.port}{route}"
        self.cmd = [*cmd, "--host", HOST, "--port", str(self.port)]
        self.log = logdir / f"{label.replace(' ', '_')}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str], timeout_s: float = 180.0) -> None:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited ({self.proc.returncode}):\n{self.tail()}")
            with contextlib.suppress(OSError):
                ready = f"http://{HOST}:{self.port}/v2/health/ready"
                with urllib.request.urlopen(ready, timeout=2) as answer:
                    if answer.status == 200:
                        return
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} not ready after {timeout_s:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL if it is still there 10 s later."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait_s)
                return

    def check(self, body: Payload, expected: np.ndarray) -> None:
        """One request: the server must answer 200 with ``expected`` probabilities."""
        request = urllib.request.Request(self.url, data=body[0], headers=body[1], method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            got = answer_probabilities(self.protocol, dict(answer.headers), answer.read())
        if not np.allclose(got.reshape(expected.shape), expected, atol=1e-4):
            raise RuntimeError(f"{self.label} answered {got} where predict_proba gives {expected}")


def answer_probabilities(protocol: str, headers: dict[str, str], body: bytes) -> np.ndarray:
    """The probabilities in a v1 answer, or in a v2 answer (JSON or binary output)."""
    if protocol == "v1":
        return np.asarray(json.loads(body)["probabilities"], dtype=np.float64)
    length = {k.lower(): v for k, v in headers.items()}.get("inference-header-content-length")
    n = int(length) if length is not None else len(body)
    output = next(o for o in json.loads(body[:n])["outputs"] if o["name"] == "probabilities")
    if "data" in output:
        return np.asarray(output["data"], dtype=np.float64)
    size = int(output["parameters"]["binary_data_size"])
    return np.frombuffer(body[n : n + size], dtype="<f4").astype(np.float64)


def measure_server(
    server: Server, model: str, script: Path, concurrency: int, seconds: float
) -> Point:
    run_wrk(server.url, script, concurrency, WARMUP_S)
    r = run_wrk(server.url, script, concurrency, seconds)
    ok_per_s = (r["requests"] - r["status"]) / (r["us"] / 1e6)
    errors = sum(int(r[k]) for k in ("connect", "read", "write", "status", "timeout"))
    return Point(
        model, server.label, concurrency, ok_per_s, ok_per_s, r["p50"] / 1e3, r["p99"] / 1e3,
        errors,
    )  # fmt: skip


def measure_ceiling(
    predictor: Any, x: np.ndarray, batch: int, model: str, concurrency: int, seconds: float
) -> Point:
    """Rows/s of ``predict_outputs`` over ``batch``-row chunks of ``x``, in this process."""
    chunks = [x[i : i + batch] for i in range(0, len(x) - batch + 1, batch)]
    times: list[float] = []
    rows, elapsed = 0, 0.0
    for clock_s in (WARMUP_S, seconds):
        times, rows = [], 0
        started = time.perf_counter()
        for chunk in itertools.cycle(chunks):
            t0 = time.perf_counter()
            predictor.predict_outputs(chunk)
            times.append(time.perf_counter() - t0)
            rows += len(chunk)
            if time.perf_counter() - started >= clock_s:
                break
        elapsed = time.perf_counter() - started
    p50, p99 = np.percentile(np.asarray(times) * 1e3, [50, 99])
    return Point(model, "ceiling", concurrency, None, rows / elapsed, float(p50), float(p99), 0)


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeelVariant:
    server: str
    protocol: str
    workers: int

    @property
    def label(self) -> str:
        return f"keel {self.server} {self.protocol} w{self.workers}"


def bench_model(
    model: str, ref: str, args: argparse.Namespace, env: dict[str, str], workdir: Path
) -> list[Point]:
    """Every subject at every concurrency level, interleaved; servers stopped before returning."""
    import keel

    predictor = keel.load(ref)
    from sklearn.datasets import load_digits

    records = load_digits(as_frame=True).data[predictor.columns].astype(float)
    x = predictor.transform(records)
    variants = [
        KeelVariant(s, p, w) for s in args.server for p in args.protocol for w in args.workers
    ]
    keel_cmd = [str(BIN / "keel"), "serve", ref, "--no-auth", "--watch-s", "0"]
    keel_cmd.append("--access-log" if args.access_log else "--no-access-log")  # naive logs none
    batch = args.max_batch_size or BATCH[model]
    keel_cmd += ["--max-batch-size", str(batch)]
    if args.max_delay_ms is not None:
        keel_cmd += ["--max-delay-ms", str(args.max_delay_ms)]
    servers: list[Server] = []
    if "keel" in args.subjects:
        for v in variants:
            cmd = [*keel_cmd, "--server", v.server, "--workers", str(v.workers)]
            servers.append(Server(v.label, cmd, v.protocol, model, workdir))
    if "naive" in args.subjects:
        naive_cmd = [sys.executable, str(Path(__file__).with_name("_serve_naive.py")), ref]
        servers.append(Server("naive", naive_cmd, "v1", model, workdir))
    scripts: dict[str, Path] = {}
    for protocol in {s.protocol for s in servers}:
        (workdir / f"{model}-{protocol}").mkdir()
        bodies = payloads(predictor.columns, protocol)
        scripts[protocol] = lua_script(bodies, workdir / f"{model}-{protocol}")
    expected = predictor.predict_proba(records.head(1))
    subjects: list[Callable[[int], Point]] = []
    with contextlib.ExitStack() as stack:
        for server in servers:  # one at a time: each loads torch and the model
            stack.callback(server.stop)
            server.start(env)
            server.check(payloads(predictor.columns, server.protocol)[0], expected)

            def run_server(c: int, s: Server = server) -> Point:
                return measure_server(s, model, scripts[s.protocol], c, args.seconds)

            subjects.append(run_server)
        if "ceiling" in args.subjects:
            b = batch
            subjects.append(lambda c: measure_ceiling(predictor, x, b, model, c, args.seconds))
        points = []
        for r, (k, concurrency) in itertools.product(
            range(args.rounds), enumerate(args.concurrency)
        ):
            first = (k + r) % len(subjects)
            for run in subjects[first:] + subjects[:first]:
                points.append(run(concurrency))
                print(f"  measured {points[-1].subject} c={concurrency}", file=sys.stderr)
    return medians(points)


def medians(points: list[Point]) -> list[Point]:
    """One point per (model, subject, concurrency): each figure's median over the rounds, errors
    summed."""
    groups: dict[tuple[str, str, int], list[Point]] = {}
    for p in points:
        groups.setdefault((p.model, p.subject, p.concurrency), []).append(p)
    out = []
    for (model, subject, concurrency), ps in groups.items():

        def med(field: str, ps: list[Point] = ps) -> float:
            return float(statistics.median(getattr(p, field) for p in ps))

        req = None if ps[0].req_s is None else med("req_s")
        figures = (med("rows_s"), med("p50_ms"), med("p99_ms"), sum(p.errors for p in ps))
        out.append(Point(model, subject, concurrency, req, *figures))
    return out


def print_table(points: list[Point]) -> None:
    at = {(p.model, p.subject, p.concurrency): p for p in points}

    def find(p: Point, subject: str) -> Point | None:
        return at.get((p.model, subject, p.concurrency))

    head = (
        "| model | subject | c | req/s | rows/s | p50 ms | p99 ms | errors | x naive | / ceiling |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    rank = {"naive": 1, "ceiling": 2}  # keel variants first
    for p in sorted(points, key=lambda p: (p.model, p.concurrency, rank.get(p.subject, 0))):
        naive, ceiling = find(p, "naive"), find(p, "ceiling")
        vs_naive = f"{p.rows_s / naive.rows_s:.2f}" if naive else "—"
        vs_ceiling = f"{p.rows_s / ceiling.rows_s:.2f}" if ceiling else "—"
        req = f"{p.req_s:.0f}" if p.req_s is not None else "—"
        print(
            f"| {p.model} | {p.subject} | {p.concurrency} | {req} | {p.rows_s:.0f} | "
            f"{p.p50_ms:.2f} | {p.p99_ms:.2f} | {p.errors} | {vs_naive} | {vs_ceiling} |"
        )


Judge = Callable[[Point, Point], tuple[bool, str]]


def _throughput(keel: Point, naive: Point) -> tuple[bool, str]:
    ratio = keel.rows_s / naive.rows_s
    return ratio >= 3 and keel.p99_ms <= 50, f"{ratio:.2f}x, p99 {keel.p99_ms:.1f} ms"


def _ceiling(keel: Point, ceiling: Point) -> tuple[bool, str]:
    share = keel.rows_s / ceiling.rows_s
    return share >= 0.7, f"{share:.0%} ({keel.rows_s:.0f} / {ceiling.rows_s:.0f} rows/s)"


def _latency(keel: Point, naive: Point) -> tuple[bool, str]:
    ratio = keel.p50_ms / naive.p50_ms
    return ratio <= 1.2, f"{keel.p50_ms:.2f} / {naive.p50_ms:.2f} ms = {ratio:.2f}x"


# (what, model, concurrency, the subject keel is held against, judge)
TARGETS: tuple[tuple[str, str, int, str, Judge], ...] = (
    ("digits c=64: req/s >= 3x naive, p99 <= 50 ms", "digits", 64, "naive", _throughput),
    ("digits_wide c=64: rows/s >= 70% of the ceiling", "digits_wide", 64, "ceiling", _ceiling),
    ("digits c=1: p50 <= 1.2x naive", "digits", 1, "naive", _latency),
)


def target_lines(points: list[Point], labels: list[str]) -> Iterator[str]:
    """Each target for every keel variant: met / missed with the measured figures (errors in
    either point make it missed); a target no run measured says so once."""
    at = {(p.model, p.subject, p.concurrency): p for p in points}
    for what, model, concurrency, against, judge in TARGETS:
        base, measured = at.get((model, against, concurrency)), False
        for label in labels:
            keel = at.get((model, label, concurrency))
            if keel is None or base is None:
                continue
            measured = True
            ok, figures = judge(keel, base)
            errors = keel.errors + base.errors
            verdict = "met" if ok and not errors else "missed"
            yield f"{what} | {label}: {figures} — {verdict}" + (
                f" ({errors} errors)" * bool(errors)
            )
        if not measured:
            yield f"{what} — not measured (needs {model}, c={concurrency}, keel and {against})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["digits", "digits_wide"],
                        choices=["digits", "digits_wide"])  # fmt: skip
    parser.add_argument("--subjects", nargs="+", default=["keel", "naive", "ceiling"],
                        choices=["keel", "naive", "ceiling"])  # fmt: skip
    parser.add_argument("--concurrency", nargs="+", type=int, default=list(CONCURRENCY))
    parser.add_argument("--server", nargs="+", default=["uvicorn"], choices=["uvicorn", "granian"])
    parser.add_argument("--protocol", nargs="+", default=["v1"],
                        choices=["v1", "v2json", "v2binary"])  # fmt: skip
    parser.add_argument("--workers", nargs="+", type=int, default=[1], choices=[1, 2])
    parser.add_argument(
        "--max-batch-size", type=int, default=None,
        help="keel's and the ceiling's (default: 64 for digits, 32 for digits_wide)",
    )  # fmt: skip
    parser.add_argument("--max-delay-ms", type=float, default=None, help="default: keel's own")
    parser.add_argument("--access-log", action="store_true", help="keel's JSON access log on")
    parser.add_argument("--seconds", type=float, default=None, help="per point (10; 3 quick)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs of each model")
    parser.add_argument("--rounds", type=int, default=1, help="sweeps; medians are reported")
    parser.add_argument("--quick", action="store_true", help="3 s per point")
    args = parser.parse_args()
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # servers are stopped on the way out

    with tempfile.TemporaryDirectory(prefix="keel-bench-serve-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "KEEL_HOME": str(workdir / ".keel"), "PYTHONUNBUFFERED": "1"}
        os.environ["KEEL_HOME"] = env["KEEL_HOME"]  # keel.load in this process (the ceiling)
        specs = bench_specs(args.epochs)
        points: list[Point] = []
        for model in args.models:
            print(f"training {model} ({args.epochs} epochs) ...", file=sys.stderr)
            ref = train(specs[model], workdir, env)
            points += bench_model(model, ref, args, env, workdir)
    print(
        f"wrk -t1, one row per request, {args.seconds:g} s per point after a {WARMUP_S} s "
        f"warm-up, median of {args.rounds} round(s); "
        f"max_batch_size={args.max_batch_size or BATCH}; "
        f"cpus={os.cpu_count()}"
    )
    print_table(points)
    print(
        "req/s and rows/s count 2xx answers; naive speaks v1; ceiling is in-process (its p50/p99 "
        "are per batch); ratios are the figures to read on a noisy machine"
    )
    labels = sorted({p.subject for p in points if p.subject.startswith("keel")})
    if not labels:
        print("targets: not judged, keel serve was not measured (--subjects)")
    for line in target_lines(points, labels):
        print("target", line)
    if any(p.errors for p in points):
        print("note: some points had errors; see the errors column")


if __name__ == "__main__":
    main()
