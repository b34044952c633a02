"""Load benchmark: real `learnloop serve` processes under wrk, against nginx and bare Starlette.

Run: .venv/bin/python bench/load/run.py            (what `make bench` runs; about 20 minutes)
     .venv/bin/python bench/load/run.py --quick    (short runs, one repetition: a smoke test)

What it does, all in one run so every ratio compares figures taken minutes apart:
1. Seeds (or reuses, see seed.py) 100,000 learners / 1,000,000 attempts and 1,000 / 10,000,
   on SQLite and on PostgreSQL; every server gets a fresh copy of the seeded data.
2. For 1 and then 2 workers: starts nginx and bare Starlette serving one lesson page saved
   from the real server, and `learnloop serve` on each database and dataset. With 1 worker the
   servers are pinned to CPU 1 and wrk to CPU 0 (`taskset`); with 2 workers nothing is pinned.
3. Saturation runs, repeated and interleaved (nginx, Starlette, lesson pages on each
   database): medians give the ratios. Then per database: the full mix at saturation, lesson
   pages paced at half their saturation rate, the mix paced at half its saturation rate on
   100,000 and on 1,000 learners (interleaved, for scaling), and on PostgreSQL with 2 workers
   exercise attempts alone, at saturation and paced at 600/s.
4. Writes the tables and the verdict against each target into bench/README.md, between the
   `load:start` / `load:end` markers (the rest of the file is left alone), and the raw figures
   to .cache/bench/load-results.json.

Per request type figures come from mix.lua (see its header for how responses are matched to
requests and how pacing works); "errors" counts every response other than 200 plus wrk's
socket errors and timeouts.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed  # a sibling script, found through the path set just above

from learnloop.content.model import ChoiceExercise, Course, FillBlankExercise
from learnloop.web.csrf import _sign

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
README = ROOT / "bench" / "README.md"
VENV_BIN = ROOT / ".venv" / "bin"
CACHE = seed.CACHE_DIR
SECRET = "bench-secret-key-not-for-production-0123456789"
MIX = "lesson=70,attempt=20,complete=5,dashboard=5"
KINDS = ("lesson", "attempt", "complete", "dashboard")
START_MARK = "<!-- load:start (written by bench/load/run.py; edit the script, not this) -->"
END_MARK = "<!-- load:end -->"
# Targets from issue 6.
LESSON_RATIO_TARGET = 0.5
LESSON_P99_TARGET_MS = 20.0
ATTEMPT_RATE_TARGET = 600.0
ATTEMPT_P99_TARGET_MS = 50.0
FLAT_TOLERANCE = 0.2


@dataclass
class Options:
    duration: int
    warmup: int
    repeat: int
    connections: int
    threads: int
    quick: bool
    before: str | None = None  # a git ref whose source tree is compared against


# ---------------------------------------------------------------------------------- results


@dataclass
class KindStats:
    count: int = 0
    errors: int = 0
    rps: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    # Latency histogram (microseconds -> count), kept so repetitions can be pooled.
    hist: dict[int, int] = field(default_factory=dict)


@dataclass
class Run:
    name: str
    target: str
    command: str
    duration: float
    rate: float  # paced rate asked for; 0 = saturation
    total_rps: float
    socket_errors: int
    kinds: dict[str, KindStats]
    p50: float = 0.0  # whole run, for the references (plain wrk)
    p99: float = 0.0
    unmatched: int = 0
    note: str = ""
    cpu_ms: float = 0.0  # server CPU time (all its processes) per response, in ms

    @property
    def responses(self) -> int:
        if self.kinds:
            return sum(k.count for k in self.kinds.values())
        return round(self.total_rps * self.duration)

    def kind(self, name: str) -> KindStats:
        return self.kinds.get(name, KindStats())


def percentile(hist: dict[int, int], fraction: float) -> float:
    """Latency (ms) below which `fraction` of the samples fall; hist maps microseconds to n."""
    total = sum(hist.values())
    if total == 0:
        return 0.0
    wanted = fraction * total
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= wanted:
            return value / 1000
    return max(hist) / 1000


def parse_lua_out(path: Path, duration: float) -> tuple[dict[str, KindStats], int, int, float]:
    hists: dict[str, dict[int, int]] = {}
    kinds: dict[str, KindStats] = {}
    unmatched = socket_errors = 0
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts[0] == "unmatched":
            unmatched += int(parts[1])
        elif parts[0] == "count":
            kinds.setdefault(parts[1], KindStats()).count += int(parts[2])
        elif parts[0] == "error":
            kinds.setdefault(parts[1], KindStats()).errors += int(parts[2])
        elif parts[0] == "status":
            statuses = kinds.setdefault(parts[1], KindStats()).statuses
            statuses[parts[2]] = statuses.get(parts[2], 0) + int(parts[3])
        elif parts[0] == "hist":
            hist = hists.setdefault(parts[1], {})
            hist[int(parts[2])] = hist.get(int(parts[2]), 0) + int(parts[3])
        elif parts[0] == "wrk":
            # connect, read, write, timeout errors (HTTP statuses are counted per type).
            socket_errors = int(parts[3]) + int(parts[4]) + int(parts[5]) + int(parts[7])
            duration = int(parts[1]) / 1e6  # as wrk measured it
    for name, stats in kinds.items():
        hist = hists.get(name, {})
        stats.rps = stats.count / duration
        stats.p50, stats.p95, stats.p99 = (percentile(hist, q) for q in (0.5, 0.95, 0.99))
        stats.hist = hist
    return kinds, unmatched, socket_errors, duration


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def parse_plain_wrk(output: str) -> tuple[float, float, float, int]:
    rps = p50 = p99 = 0.0
    errors = 0
    for line in output.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(words[1])
        elif len(words) == 2 and words[0] == "50%":
            p50 = _ms(words[1])
        elif len(words) == 2 and words[0] == "99%":
            p99 = _ms(words[1])
        elif line.strip().startswith("Socket errors:"):
            errors += sum(int(w.strip(",")) for w in words if w.strip(",").isdigit())
        elif line.strip().startswith("Non-2xx"):
            errors += int(words[-1])
    return rps, p50, p99, errors


# ---------------------------------------------------------------------------------- processes


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    pinned: bool
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def pin(cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu] if cpu is not None else []


def free_port(start: int) -> int:
    """The first port from `start` that nothing listens on: a server left over from an
    interrupted run must not answer in place of the one being measured."""
    for port in range(start, start + 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port from {start}")


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and proc.poll() is None:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def stop(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM if "nginx" not in server.name else signal.SIGQUIT)
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


def server_pids(server: Server) -> list[int]:
    """The processes that serve requests: the workers of a supervisor, else the process."""
    children = _children(server.proc.pid)
    workers = [pid for pid in children if not _is_helper(pid)]
    return workers or [server.proc.pid]


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out += [int(p) for p in task.read_text().split()]
        except OSError:
            continue  # a thread that just ended
    return out


def _is_helper(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"resource_tracker" in cmdline or b"semaphore_tracker" in cmdline


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (workers)."""
    total = 0.0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        stack += _children(current)
    return total


def learnloop_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "LEARNLOOP_DATABASE_URL": database_url,
            "LEARNLOOP_SECRET_KEY": SECRET,
            "LEARNLOOP_ENV": "production",
            "LEARNLOOP_COURSES_DIR": str(ROOT / "courses"),
        }
    )
    return env


def start_learnloop(
    name: str,
    database_url: str,
    workers: int,
    port: int,
    cpu: str | None,
    source: str | None = None,
) -> Server:
    log = CACHE / f"server-{name}.log"
    env = learnloop_env(database_url)
    if source is not None:
        # Another checkout's package, imported ahead of the editable install of this one.
        env["PYTHONPATH"] = str(Path(source).resolve() / "src")
    command = [
        *pin(cpu),
        str(VENV_BIN / "learnloop"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, port, proc, cpu is not None, log)
    wait_ready(f"{server.url}/readyz", proc)
    return server


def start_bare(page: Path, workers: int, port: int, cpu: str | None) -> Server:
    log = CACHE / f"server-starlette-{workers}.log"
    # The options `learnloop serve` gives uvicorn (see learnloop.web.cli / observability.shutdown).
    command = [
        *pin(cpu),
        str(VENV_BIN / "uvicorn"),
        "bare_app:app",
        "--app-dir",
        str(HERE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--proxy-headers",
        "--log-level",
        "warning",
    ]
    env = dict(os.environ, LEARNLOOP_BENCH_PAGE=str(page))
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"starlette-{workers}", port, proc, cpu is not None, log)
    wait_ready(f"{server.url}/page", proc)
    return server


NGINX_CONF = """
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location = /page {{
            default_type "text/html; charset=utf-8";
            alias {page};
        }}
    }}
}}
"""


def start_nginx(page: Path, workers: int, port: int, cpu: str | None) -> Server:
    directory = CACHE / f"nginx-{workers}"
    (directory / "tmp").mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, dir=directory, port=port, page=page))
    log = directory / "stdout.log"
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    command = [*pin(cpu), nginx, "-c", str(conf), "-g", "daemon off; user root;"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"nginx-{workers}", port, proc, cpu is not None, log)
    wait_ready(f"{server.url}/page", proc)
    return server


# ---------------------------------------------------------------------------------- load


def lua_data(course: Course, seeded: seed.Seeded, path: Path) -> None:
    """The Lua table mix.lua reads: session cookies with their CSRF tokens, and answers."""
    tokens = json.loads(seeded.sessions_path.read_text())
    lines = ["return {", f"  slug = {json.dumps(course.slug)},", "  sessions = {"]
    for item in tokens:
        csrf_seed = f"bench{item['user_id']:0>38}"  # 43 URL-safe characters, as csrf expects
        cookie = f"learnloop_session={item['token']}; learnloop_csrf={csrf_seed}"
        token = _sign(SECRET, csrf_seed, item["token"])
        lessons = ", ".join(str(n) for n in item["lessons"])
        lines.append(
            f"    {{cookie = {json.dumps(cookie)}, csrf = {json.dumps(token)}, "
            f"lessons = {{{lessons}}}}},"
        )
    lines += ["  },", "  exercises = {"]
    for lesson in course.lessons:
        items = []
        for exercise in lesson.auto_checked:
            bodies = []
            for cand in seed.candidates(exercise):
                if isinstance(exercise, FillBlankExercise):
                    bodies.append(urlencode([("blank", v) for v in cand.answer]))
                elif isinstance(exercise, ChoiceExercise) and isinstance(cand.answer, list):
                    bodies.append(urlencode([("answer", v) for v in cand.answer]))
                elif isinstance(cand.answer, bool):
                    bodies.append(urlencode({"answer": "true" if cand.answer else "false"}))
                else:
                    bodies.append(urlencode({"answer": cand.answer}))
            quoted = ", ".join(json.dumps(b) for b in bodies)
            items.append(f"{{id = {json.dumps(exercise.id)}, bodies = {{{quoted}}}}}")
        lines.append(f"    [{lesson.number}] = {{{', '.join(items)}}},")
    lines += ["  },", "}"]
    path.write_text("\n".join(lines) + "\n")


def wrk_command(opts: Options, url: str, duration: int, cpu: str | None, script: bool) -> list[str]:
    command = [
        *pin(cpu),
        "wrk",
        f"-t{opts.threads}",
        f"-c{opts.connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
    ]
    if script:
        command += ["-s", str(HERE / "mix.lua")]
    else:
        command += ["--latency"]
    return [*command, url]


def _shown(command: Sequence[str], env: dict[str, str]) -> str:
    shown_env = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k != "BENCH_OUT")
    return f"{shown_env} {shlex.join(command)}".strip().replace(str(ROOT) + "/", "")


def run_mix(
    opts: Options,
    name: str,
    server: Server,
    data: Path,
    mix: str,
    *,
    rate: float = 0.0,
    cpu: str | None,
) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        env = {
            "BENCH_DATA": str(data),
            "BENCH_MIX": mix,
            "BENCH_RATE": f"{rate:.0f}",
            "BENCH_THREADS": str(opts.threads),
            "BENCH_OUT": str(out),
        }
        full_env = dict(os.environ, **env)
        pg_before = seed.postmaster_started() if "postgres" in server.name else ""
        if opts.warmup:
            subprocess.run(
                wrk_command(opts, server.url, opts.warmup, cpu, True),
                env=full_env,
                check=True,
                capture_output=True,
                timeout=opts.warmup + 60,
            )
        command = wrk_command(opts, server.url, opts.duration, cpu, True)
        cpu_before = tree_cpu_seconds(server.proc.pid)
        subprocess.run(
            command, env=full_env, check=True, capture_output=True, timeout=opts.duration + 60
        )
        cpu_used = tree_cpu_seconds(server.proc.pid) - cpu_before
        kinds, unmatched, socket_errors, duration = parse_lua_out(out, opts.duration)
        restarted = pg_before and seed.postmaster_started() != pg_before
    total = sum(k.count for k in kinds.values()) / duration
    run = Run(
        name,
        server.name,
        _shown(command, env),
        duration,
        rate,
        total,
        socket_errors,
        kinds,
        unmatched=unmatched,
        note="PostgreSQL was restarted during this run (by another session)" if restarted else "",
    )
    run.cpu_ms = 1000 * cpu_used / max(1, run.responses)
    log(f"  {name}: {describe(run)}")
    return run


def run_plain(opts: Options, name: str, server: Server, cpu: str | None) -> Run:
    url = f"{server.url}/page"
    if opts.warmup:
        subprocess.run(
            wrk_command(opts, url, opts.warmup, cpu, False),
            check=True,
            capture_output=True,
            timeout=opts.warmup + 60,
        )
    command = wrk_command(opts, url, opts.duration, cpu, False)
    cpu_before = tree_cpu_seconds(server.proc.pid)
    done = subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=opts.duration + 60
    )
    cpu_used = tree_cpu_seconds(server.proc.pid) - cpu_before
    rps, p50, p99, errors = parse_plain_wrk(done.stdout)
    run = Run(
        name,
        server.name,
        _shown(command, {}),
        opts.duration,
        0.0,
        rps,
        errors,
        {},
        p50=p50,
        p99=p99,
    )
    run.cpu_ms = 1000 * cpu_used / max(1, run.responses)
    log(
        f"  {name}: {rps:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, errors {errors}, "
        f"server CPU {run.cpu_ms:.3f} ms/response"
    )
    return run


def describe(run: Run) -> str:
    parts = [f"{run.total_rps:,.0f} req/s"]
    for name, k in run.kinds.items():
        parts.append(f"{name} {k.rps:,.0f}/s p50 {k.p50:.1f} p99 {k.p99:.1f} ms err {k.errors}")
    if run.socket_errors or run.unmatched:
        parts.append(f"socket errors {run.socket_errors}, unmatched {run.unmatched}")
    if run.note:
        parts.append(run.note)
    parts.append(f"server CPU {run.cpu_ms:.2f} ms/response")
    return "; ".join(parts)


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# ---------------------------------------------------------------------------------- plan


@dataclass
class Config:
    db: str
    workers: int
    learners: int
    server: Server
    data: Path
    rss_mib: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.db}-{self.workers}w-{self.learners // 1000}k"


def save_reference_page(server: Server, course: Course, seeded: seed.Seeded) -> tuple[Path, int]:
    """Fetch every lesson as a signed-in learner; keep the page of median size."""
    item = json.loads(seeded.sessions_path.read_text())[0]
    pages = []
    for lesson in course.lessons:
        request = urllib.request.Request(
            f"{server.url}/courses/{course.slug}/lessons/{lesson.number}",
            headers={"Cookie": f"learnloop_session={item['token']}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            pages.append((len(body := response.read()), lesson.number, body))
    pages.sort()
    size, number, body = pages[len(pages) // 2]
    path = CACHE / "reference" / "lesson.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    path.chmod(0o644)
    log(
        f"reference page: lesson {number}, {size:,} bytes (lesson pages range "
        f"{pages[0][0]:,} to {pages[-1][0]:,} bytes)"
    )
    return path, number


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def median_run(runs: Sequence[Run]) -> Run:
    """The run with the median total throughput (its own latencies come with it)."""
    ordered = sorted(runs, key=lambda r: r.total_rps)
    return ordered[len(ordered) // 2]


def measure(opts: Options, course: Course) -> dict[str, Any]:
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "phases": {}}
    datasets = {}
    for db in ("sqlite", "postgres"):
        for learners, attempts in ((100_000, 1_000_000), (1_000, 10_000)):
            datasets[(db, learners)] = seed.ensure(db, learners, attempts, course, log=log)
    results["load_before"] = os.getloadavg()
    cpu_times_before = cpu_times()
    port = 18100
    page: Path | None = None
    for workers in (1, 2):
        # One worker: servers on CPU 1, wrk on CPU 0. Two workers: both cores for everything.
        server_cpu, wrk_cpu = ("1", "0") if workers == 1 else (None, None)
        phase: dict[str, Any] = {"runs": []}
        results["phases"][str(workers)] = phase
        with ExitStack() as stack:
            configs: list[Config] = []
            for (db, learners), seeded in datasets.items():
                run_name = f"{db}-{workers}w-{learners}"
                url = seed.fresh_copy(seeded, run_name)
                stack.callback(seed.drop_copy, seeded, run_name)
                port = free_port(port + 1)
                server = start_learnloop(run_name, url, workers, port, server_cpu)
                stack.callback(stop, server)
                data = CACHE / f"{run_name}.lua"
                lua_data(course, seeded, data)
                configs.append(Config(db, workers, learners, server, data))
                log(f"started {run_name} on :{port}")
            big = [c for c in configs if c.learners == 100_000]
            if page is None:
                page, number = save_reference_page(
                    big[0].server, course, datasets[("sqlite", 100_000)]
                )
                results["reference_lesson"] = number
                results["reference_bytes"] = page.stat().st_size
            port = free_port(port + 1)
            nginx = start_nginx(page, workers, port, server_cpu)
            stack.callback(stop, nginx)
            port = free_port(port + 1)
            bare = start_bare(page, workers, port, server_cpu)
            stack.callback(stop, bare)
            refs = {"nginx": nginx, "starlette": bare}
            # Saturation, interleaved so every repetition sees the same machine.
            sat: dict[str, list[Run]] = {}
            for rep in range(opts.repeat):
                log(f"{workers} worker(s): saturation round {rep + 1}/{opts.repeat}")
                for key, ref in refs.items():
                    sat.setdefault(key, []).append(run_plain(opts, f"{key} page", ref, wrk_cpu))
                for c in big:
                    sat.setdefault(c.db, []).append(
                        run_mix(
                            opts,
                            f"{c.label} lesson page",
                            c.server,
                            c.data,
                            "lesson=100",
                            cpu=wrk_cpu,
                        )
                    )
            stop(nginx)
            stop(bare)
            phase["saturation"] = {k: [asdict(r) for r in v] for k, v in sat.items()}
            if opts.before:
                db = "sqlite" if workers == 1 else "postgres"
                mixes = {"lesson": "lesson=100", "attempt": "attempt=100"}
                if workers == 2:
                    del mixes["lesson"]
                now = next(c for c in big if c.db == db)
                name = f"{db}-{workers}w-100000-before"
                url = seed.fresh_copy(datasets[(db, 100_000)], name)
                stack.callback(seed.drop_copy, datasets[(db, 100_000)], name)
                port = free_port(port + 1)
                tree, commit = source_tree(opts.before)
                old = start_learnloop(name, url, workers, port, server_cpu, source=str(tree))
                stack.callback(stop, old)
                compared: dict[str, dict[str, list[dict[str, Any]]]] = {}
                for rep in range(opts.repeat):
                    log(f"{workers} worker(s): before/after round {rep + 1}/{opts.repeat}")
                    for kind, mix in mixes.items():
                        for label, server in (("before", old), ("after", now.server)):
                            run = run_mix(
                                opts, f"{db} {kind} {label}", server, now.data, mix, cpu=wrk_cpu
                            )
                            compared.setdefault(kind, {}).setdefault(label, []).append(asdict(run))
                stop(old)
                source = f"{opts.before} ({commit[:12]})"
                phase["before_after"] = {"db": db, "source": source, "runs": compared}
            # Per database: the mix at saturation, lesson pages at half of their saturation.
            mix_sat: dict[str, Run] = {}
            for c in big:
                lesson_max = median([r.total_rps for r in sat[c.db]])
                mix_sat[c.db] = run_mix(opts, f"{c.label} mix", c.server, c.data, MIX, cpu=wrk_cpu)
                half = run_mix(
                    opts,
                    f"{c.label} lesson page at half saturation",
                    c.server,
                    c.data,
                    "lesson=100",
                    rate=lesson_max / 2,
                    cpu=wrk_cpu,
                )
                phase.setdefault("mix", {})[c.db] = asdict(mix_sat[c.db])
                phase.setdefault("lesson_half", {})[c.db] = asdict(half)
                if c.db == "postgres" and workers == 2:
                    att_sat = run_mix(
                        opts, f"{c.label} attempts", c.server, c.data, "attempt=100", cpu=wrk_cpu
                    )
                    att_paced = run_mix(
                        opts,
                        f"{c.label} attempts at 600/s",
                        c.server,
                        c.data,
                        "attempt=100",
                        rate=ATTEMPT_RATE_TARGET,
                        cpu=wrk_cpu,
                    )
                    phase["attempts"] = {"saturation": asdict(att_sat), "paced": asdict(att_paced)}
            # Scaling: the same paced mix on 100,000 and on 1,000 learners, interleaved.
            for db in ("sqlite", "postgres"):
                rate = mix_sat[db].total_rps / 2
                pair = [c for c in configs if c.db == db]
                scaled: dict[str, list[Run]] = {}
                for _rep in range(opts.repeat):
                    for c in pair:
                        scaled.setdefault(str(c.learners), []).append(
                            run_mix(
                                opts,
                                f"{c.label} mix at half saturation",
                                c.server,
                                c.data,
                                MIX,
                                rate=rate,
                                cpu=wrk_cpu,
                            )
                        )
                phase.setdefault("scaling", {})[db] = {
                    "rate": rate,
                    "runs": {k: [asdict(r) for r in v] for k, v in scaled.items()},
                }
            for c in configs:
                c.rss_mib = [rss_mib(pid) for pid in server_pids(c.server)]
                phase.setdefault("rss", {})[c.label] = c.rss_mib
                log(f"{c.label} worker RSS: {', '.join(f'{r:.0f} MiB' for r in c.rss_mib)}")
    results["load_after"] = os.getloadavg()
    results["steal_percent"] = steal_percent(cpu_times_before, cpu_times())
    results["finished"] = datetime.now(UTC).isoformat()
    return results


def measure_attempts(opts: Options, course: Course, learners: int) -> dict[str, Any]:
    """Exercise attempts alone on PostgreSQL with 2 workers (the issue 6 target), the working
    tree against `--before`, in interleaved rounds: saturation, then paced at 600/s."""
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "learners": learners}
    seeded = seed.ensure("postgres", learners, learners * 10, course, log=log)
    results["load_before"] = os.getloadavg()
    cpu_times_before = cpu_times()
    port = 18600
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        labels = ["after"] if opts.before is None else ["before", "after"]
        for label in labels:
            name = f"attempts-{label}"
            url = seed.fresh_copy(seeded, name)
            stack.callback(seed.drop_copy, seeded, name)
            port = free_port(port + 1)
            source = None
            if label == "before":
                assert opts.before is not None
                tree, commit = source_tree(opts.before)
                source = str(tree)
                results["before"] = f"{opts.before} ({commit[:12]})"
            servers[label] = start_learnloop(name, url, 2, port, None, source=source)
            stack.callback(stop, servers[label])
            log(f"started {name} on :{port}")
        data = CACHE / f"attempts-{learners}.lua"
        lua_data(course, seeded, data)
        for rep in range(opts.repeat):
            log(f"attempts round {rep + 1}/{opts.repeat}, load average {os.getloadavg()[0]:.1f}")
            # Alternate which tree goes first, so neither always meets the same neighbours.
            order = labels if rep % 2 == 0 else labels[::-1]
            for label in order:
                for kind, rate in (("saturation", 0.0), ("paced", ATTEMPT_RATE_TARGET)):
                    run = run_mix(
                        opts,
                        f"attempts {label} {kind}",
                        servers[label],
                        data,
                        "attempt=100",
                        rate=rate,
                        cpu=None,
                    )
                    runs.setdefault(label, {}).setdefault(kind, []).append(asdict(run))
    results["runs"] = runs
    results["load_after"] = os.getloadavg()
    results["steal_percent"] = steal_percent(cpu_times_before, cpu_times())
    results["finished"] = datetime.now(UTC).isoformat()
    return results


def render_attempts(results: dict[str, Any], opts: Options, command: str) -> str:
    """A table for bench/README.md's "Profile and fixes" (printed; the README is not touched)."""
    started = results["started"][:16].replace("T", " ")
    out = [
        f"Measured {started} UTC on {machine()}; load average "
        f"{results['load_before'][0]:.1f} at the start and {results['load_after'][0]:.1f} at "
        f"the end; CPU steal (vmstat `st`) {_steal(results)} over the run. "
        f"{results['learners']:,} learners; wrk `-t{opts.threads} -c{opts.connections}`, "
        f"{opts.duration} s per run after {opts.warmup} s of warm-up, {opts.repeat} interleaved "
        f"rounds (before = {results.get('before', '-')}).",
        "",
        "```",
        command,
        "```",
        "",
        "| tree | run | req/s median (each round) | p50 ms | p99 ms (median; pooled) "
        "| server CPU ms/response (median) | errors |",
        "|---|---|---|---:|---|---:|---:|",
    ]
    for label, kinds in results["runs"].items():
        for kind, raw in kinds.items():
            runs = [_run(dict(r)) for r in raw]
            att = [r.kind("attempt") for r in runs]
            each = ", ".join(f"{k.rps:,.0f}" for k in att)
            errors = sum(k.errors + r.socket_errors for k, r in zip(att, runs, strict=True))
            name = "saturation" if kind == "saturation" else f"paced at {ATTEMPT_RATE_TARGET:.0f}/s"
            out.append(
                f"| {label} | {name} | {median([k.rps for k in att]):,.0f} ({each}) | "
                f"{fmt_ms(median([k.p50 for k in att]))} | "
                f"{fmt_ms(median([k.p99 for k in att]))}; {fmt_ms(pooled_p99(runs, 'attempt'))} | "
                f"{median([r.cpu_ms for r in runs]):.2f} | {errors} |"
            )
    return "\n".join(out)


# ---------------------------------------------------------------------------------- report


def _run(data: dict[str, Any]) -> Run:
    kinds = {}
    for name, values in data.pop("kinds").items():
        stats = KindStats(**values)
        # A results file read back from JSON has string keys.
        stats.hist = {int(us): n for us, n in stats.hist.items()}
        kinds[name] = stats
    return Run(kinds=kinds, **data)


def pooled_p99(runs: Sequence[Run], kind: str) -> float:
    """The p99 of every request of this kind across the runs, from their merged histograms."""
    merged: dict[int, int] = {}
    for run in runs:
        for us, n in run.kind(kind).hist.items():
            merged[us] = merged.get(us, 0) + n
    return percentile(merged, 0.99)


def fmt_ms(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def ratio_text(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "-"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def cpu_times() -> list[int]:
    """The machine's CPU time counters (/proc/stat's "cpu" line, as vmstat reads them)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu "):
            return [int(field) for field in line.split()[1:]]
    return []


def steal_percent(before: list[int], after: list[int]) -> float | None:
    """vmstat's `st` over an interval: time the hypervisor gave to others, in % of all time."""
    if len(before) < 8 or len(after) < 8:
        return None
    total = sum(after) - sum(before)
    return 100.0 * (after[7] - before[7]) / total if total > 0 else None


def source_tree(ref: str) -> tuple[Path, str]:
    """The source tree of a git ref (a commit, branch or tag of this repository), extracted
    once into the cache; its folder and commit id."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = CACHE / f"source-{commit[:12]}"
    if not (target / "src" / "learnloop").is_dir():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(partial, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target, commit


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {_versions()}"


def _versions() -> str:
    def first_line(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
        except OSError:
            return "?"
        return (
            (done.stdout or done.stderr).strip().splitlines()[0]
            if (done.stdout or done.stderr)
            else "?"
        )

    pg = first_line(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "show server_version", "postgres"]
    )
    wrk = first_line(["wrk", "--version"]).split(" [")[0]
    nginx = first_line(["nginx", "-v"]).replace("nginx version: ", "")
    return f"PostgreSQL {pg.split()[0] if pg != '?' else '?'}, {wrk}, {nginx}"


def mix_table(run: Run) -> list[str]:
    lines = [
        "| request | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in KINDS:
        k = run.kinds.get(name)
        if k is None:
            continue
        rate = f"{k.errors / k.count:.2%}" if k.count else "-"
        lines.append(
            f"| {name} | {k.rps:,.0f} | {fmt_ms(k.p50)} | {fmt_ms(k.p95)} | "
            f"{fmt_ms(k.p99)} | {k.errors} ({rate}) |"
        )
    total_count = sum(k.count for k in run.kinds.values())
    total_errors = sum(k.errors for k in run.kinds.values())
    lines.append(
        f"| **all** | **{run.total_rps:,.0f}** | | | | {total_errors} of {total_count}; "
        f"socket errors {run.socket_errors} |"
    )
    return lines


def _steal(results: dict[str, Any]) -> str:
    steal = results.get("steal_percent")
    return "not recorded" if steal is None else f"{steal:.1f}%"


def render(results: dict[str, Any], opts: Options, command: str) -> str:
    out: list[str] = [START_MARK, ""]
    started = results["started"][:16].replace("T", " ")
    out += [
        f"Measured {started} UTC on {machine()}; shared machine, load average "
        f"{results['load_before'][0]:.1f} at the start and {results['load_after'][0]:.1f} at "
        f"the end of the run; CPU steal (vmstat `st`) {_steal(results)} over the run.",
        "",
        "```",
        command,
        "```",
        "",
        f"Every load run lasts {opts.duration} s after a {opts.warmup} s warm-up; wrk "
        f"`-t{opts.threads} -c{opts.connections}`. Saturation figures are the median of "
        f"{opts.repeat} interleaved repetitions. Reference page: lesson "
        f"{results['reference_lesson']} as a signed-in learner sees it, "
        f"{results['reference_bytes']:,} bytes.",
        "",
    ]
    verdicts: list[str] = []
    for workers, phase in results["phases"].items():
        pinned = "servers pinned to CPU 1, wrk to CPU 0" if workers == "1" else "nothing pinned"
        out += [f"### {workers} worker{'s' if workers != '1' else ''} ({pinned})", ""]
        sat = {k: [_run(dict(r)) for r in v] for k, v in phase["saturation"].items()}
        rps = {k: median([r.total_rps for r in v]) for k, v in sat.items()}
        out += [
            "Saturation, lesson page only (our server: a signed-in learner, random sample "
            "cookie, the learner's own lessons):",
            "",
            "| server | req/s (median) | runs | p50 ms | p99 ms | errors | vs nginx "
            "| vs bare Starlette | server CPU ms/response | Starlette CPU / ours |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        cpu = {k: median([r.cpu_ms for r in v]) for k, v in sat.items()}
        for key, label in (
            ("nginx", "nginx, static file"),
            ("starlette", "bare Starlette, from memory"),
            ("sqlite", "learnloop, SQLite"),
            ("postgres", "learnloop, PostgreSQL"),
        ):
            runs = sat[key]
            mid = median_run(runs)
            p50 = mid.p50 if key in ("nginx", "starlette") else mid.kind("lesson").p50
            p99 = mid.p99 if key in ("nginx", "starlette") else mid.kind("lesson").p99
            errors = sum(r.socket_errors + sum(k.errors for k in r.kinds.values()) for r in runs)
            each = ", ".join(f"{r.total_rps:,.0f}" for r in runs)
            out.append(
                f"| {label} | {rps[key]:,.0f} | {each} | {fmt_ms(p50)} | {fmt_ms(p99)} | "
                f"{errors} | {rps[key] / rps['nginx']:.3f} | "
                f"{rps[key] / rps['starlette']:.2f} | {cpu[key]:.3f} | "
                f"{ratio_text(cpu['starlette'], cpu[key])} |"
            )
        out += [
            "",
            "Server CPU per response (user + system time of every server process over the run, "
            "divided by responses; PostgreSQL's own processes not included) is the less noisy "
            "figure on a shared machine: a request waiting for a core costs no CPU.",
            "",
        ]
        for db in ("sqlite", "postgres"):
            mix = _run(dict(phase["mix"][db]))
            half = _run(dict(phase["lesson_half"][db]))
            out += [f"Mix at saturation, {db}, 100,000 learners (`BENCH_MIX={MIX}`):", ""]
            out += mix_table(mix)
            lesson = half.kind("lesson")
            ratio = rps[db] / rps["starlette"]
            ok_ratio = ratio >= LESSON_RATIO_TARGET
            ok_p99 = lesson.p99 < LESSON_P99_TARGET_MS and lesson.errors == 0
            out += [
                "",
                f"Lesson page paced at half of saturation ({half.rate:,.0f} req/s asked, "
                f"{lesson.rps:,.0f} served): p50 {fmt_ms(lesson.p50)} ms, p95 "
                f"{fmt_ms(lesson.p95)} ms, p99 **{fmt_ms(lesson.p99)} ms**, "
                f"errors {lesson.errors}.",
                "",
            ]
            verdicts.append(
                f"| lesson page ≥ 50% of bare Starlette, p99 < 20 ms at half saturation "
                f"({db}, {workers} worker{'s' if workers != '1' else ''}) | "
                f"{ratio:.2f} of Starlette by req/s "
                f"({ratio_text(cpu['starlette'], cpu[db])} by CPU per response); "
                f"p99 {fmt_ms(lesson.p99)} ms | "
                f"ratio {verdict(ok_ratio)}; p99 {verdict(ok_p99)} |"
            )
        if "attempts" in phase:
            att_sat = _run(dict(phase["attempts"]["saturation"]))
            paced = _run(dict(phase["attempts"]["paced"]))
            a_sat, a_paced = att_sat.kind("attempt"), paced.kind("attempt")
            out += [
                "Exercise attempts alone, PostgreSQL, 2 workers:",
                "",
                "| run | req/s | p50 ms | p95 ms | p99 ms | errors |",
                "|---|---:|---:|---:|---:|---:|",
                f"| saturation | {a_sat.rps:,.0f} | {fmt_ms(a_sat.p50)} | {fmt_ms(a_sat.p95)} | "
                f"{fmt_ms(a_sat.p99)} | {a_sat.errors} |",
                f"| paced at {ATTEMPT_RATE_TARGET:.0f}/s | {a_paced.rps:,.0f} | "
                f"{fmt_ms(a_paced.p50)} | {fmt_ms(a_paced.p95)} | {fmt_ms(a_paced.p99)} | "
                f"{a_paced.errors} |",
                "",
            ]
            ok = (
                a_paced.rps >= ATTEMPT_RATE_TARGET * 0.98
                and a_paced.p99 < ATTEMPT_P99_TARGET_MS
                and a_paced.errors == 0
                and a_sat.rps >= ATTEMPT_RATE_TARGET
            )
            verdicts.append(
                f"| attempts ≥ 600/s on PostgreSQL, 2 workers, p99 < 50 ms | "
                f"{a_sat.rps:,.0f}/s at saturation; at 600/s: {a_paced.rps:,.0f}/s served, "
                f"p99 {fmt_ms(a_paced.p99)} ms | {verdict(ok)} |"
            )
        if "before_after" in phase:
            out += before_after_table(phase["before_after"], workers)
        out += [
            "Scaling: the mix paced at half of its saturation rate on 100,000 learners, "
            "on 1,000 and 100,000 learners, repetitions interleaved. The p99 in bold pools "
            "every request of the repetitions (one run's p99 rests on its slowest 1%, a few "
            "dozen requests, which a neighbour's burst on this shared machine can move); each "
            "run's own p99 follows in brackets:",
            "",
            "| database | rate req/s | learners | lesson p99 ms (each run) "
            "| attempt p99 ms (each run) | lesson / attempt p95 ms | errors | worker RSS MiB |",
            "|---|---:|---:|---|---|---|---:|---|",
        ]
        for db, scaling in phase["scaling"].items():
            p99s: dict[str, tuple[float, float]] = {}
            spread = 0.0  # how far repetitions on the same data differ: the noise floor
            for learners in ("1000", "100000"):
                runs = [_run(dict(r)) for r in scaling["runs"][learners]]
                lesson_p99s = [r.kind("lesson").p99 for r in runs]
                attempt_p99s = [r.kind("attempt").p99 for r in runs]
                for values in (lesson_p99s, attempt_p99s):
                    if len(values) > 1 and median(values):
                        spread = max(spread, (max(values) - min(values)) / median(values))
                errors = sum(
                    r.socket_errors + sum(k.errors for k in r.kinds.values()) for r in runs
                )
                p99s[learners] = (pooled_p99(runs, "lesson"), pooled_p99(runs, "attempt"))
                label = f"{db}-{workers}w-{int(learners) // 1000}k"
                rss = ", ".join(f"{v:.0f}" for v in phase["rss"].get(label, []))
                each_l = ", ".join(fmt_ms(v) for v in lesson_p99s)
                each_a = ", ".join(fmt_ms(v) for v in attempt_p99s)
                p95 = (
                    f"{fmt_ms(median([r.kind('lesson').p95 for r in runs]))} / "
                    f"{fmt_ms(median([r.kind('attempt').p95 for r in runs]))}"
                )
                out.append(
                    f"| {db} | {scaling['rate']:,.0f} | {int(learners):,} | "
                    f"**{fmt_ms(p99s[learners][0])}** ({each_l}) | "
                    f"**{fmt_ms(p99s[learners][1])}** ({each_a}) | {p95} | {errors} | {rss} |"
                )
            (l1, a1), (l2, a2) = p99s["1000"], p99s["100000"]
            dl = (l2 - l1) / l1 if l1 else 0.0
            da = (a2 - a1) / a1 if a1 else 0.0
            ok = abs(dl) <= FLAT_TOLERANCE and abs(da) <= FLAT_TOLERANCE
            verdicts.append(
                f"| p99 flat within ±20% from 1,000 to 100,000 learners ({db}, {workers} "
                f"worker{'s' if workers != '1' else ''}) | lesson {dl:+.0%}, attempt {da:+.0%} "
                f"(repetitions on the same data differ by up to {spread:.0%}) | "
                f"{verdict(ok)} |"
            )
        notes = sorted({n for n in _notes(phase) if n})
        out += [f"Note: {n} during {c} run(s) of this phase." for n, c in _count(notes, phase)]
        out.append("")
    out += [
        "### Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        *verdicts,
        "",
        END_MARK,
    ]
    return "\n".join(out)


def before_after_table(data: dict[str, Any], workers: str) -> list[str]:
    lines = [
        f"Before and after the fixes, {data['db']}, {workers} worker"
        f"{'s' if workers != '1' else ''}, 100,000 learners, saturation, interleaved in this "
        f"run (before = `{data['source']}`; medians of the repetitions):",
        "",
        "| request | before req/s (each run) | after req/s (each run) | before server CPU "
        "ms/response | after server CPU ms/response | before p99 ms | after p99 ms "
        "| errors before/after |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for kind, by_label in data["runs"].items():
        row: dict[str, tuple[float, float, float, int]] = {}
        each: dict[str, str] = {}
        for label in ("before", "after"):
            runs = [_run(dict(r)) for r in by_label[label]]
            each[label] = ", ".join(f"{r.kind(kind).rps:,.0f}" for r in runs)
            row[label] = (
                median([r.kind(kind).rps for r in runs]),
                median([r.cpu_ms for r in runs]),
                median([r.kind(kind).p99 for r in runs]),
                sum(r.socket_errors + r.kind(kind).errors for r in runs),
            )
        b, a = row["before"], row["after"]
        lines.append(
            f"| {kind} | {b[0]:,.0f} ({each['before']}) | {a[0]:,.0f} ({each['after']}) | "
            f"{b[1]:.2f} | {a[1]:.2f} | "
            f"{fmt_ms(b[2])} | {fmt_ms(a[2])} | {b[3]} / {a[3]} |"
        )
    return [*lines, ""]


def _notes(value: Any) -> Iterator[str]:
    """Every run's note, wherever it sits in the results tree."""
    if isinstance(value, dict):
        if isinstance(value.get("note"), str):
            yield value["note"]
        for item in value.values():
            yield from _notes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _notes(item)


def _count(notes: Sequence[str], phase: dict[str, Any]) -> list[tuple[str, int]]:
    every = list(_notes(phase))
    return [(note, every.count(note)) for note in notes]


def write_readme(section: str) -> None:
    text = README.read_text()
    if START_MARK in text and END_MARK in text:
        head, rest = text.split(START_MARK, 1)
        tail = rest.split(END_MARK, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n## Load: `bench/load/run.py`\n\n" + section + "\n"
    README.write_text(text)


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    # SIGTERM stops the run as Ctrl-C does: the ExitStack callbacks still stop every server
    # and drop the copies.
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of saturation runs")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="5 s runs, 1 s warm-up, 1 repeat")
    parser.add_argument("--render", type=Path, help="only re-render README from a results file")
    parser.add_argument("--no-readme", action="store_true", help="do not touch bench/README.md")
    parser.add_argument(
        "--attempts-only",
        type=int,
        metavar="LEARNERS",
        help="only exercise attempts on PostgreSQL with 2 workers, on this many seeded learners "
        "(with --before: interleaved before/after rounds); prints a table, leaves the README",
    )
    parser.add_argument(
        "--before",
        help="also run the source tree of this git ref (a commit, branch or tag), interleaved "
        "with the working tree: lesson pages and attempts, before/after a change",
    )
    args = parser.parse_args()
    opts = Options(
        args.duration,
        args.warmup,
        args.repeat,
        args.connections,
        args.threads,
        args.quick,
        args.before,
    )
    if args.quick:
        opts.duration, opts.warmup, opts.repeat = 5, 1, 1
    command = ".venv/bin/python bench/load/run.py " + shlex.join(sys.argv[1:])
    if args.render:
        saved = json.loads(args.render.read_text())
        write_readme(render(saved["results"], Options(**saved["options"]), saved["command"]))
        return
    for tool in ("wrk", "nginx", "taskset"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} not found: apt-get install -y wrk nginx-light util-linux")
    CACHE.mkdir(parents=True, exist_ok=True)
    if args.attempts_only:
        with _stop_on_sigterm():
            found = measure_attempts(opts, seed.load_course(), args.attempts_only)
        saved_path = CACHE / f"attempts-results-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
        saved_path.write_text(
            json.dumps({"results": found, "options": asdict(opts), "command": command.strip()})
        )
        log(f"raw figures in {saved_path}")
        print(render_attempts(found, opts, command.strip()))
        return
    with _stop_on_sigterm():
        results = measure(opts, seed.load_course())
    saved_path = CACHE / f"load-results-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    saved_path.write_text(
        json.dumps({"results": results, "options": asdict(opts), "command": command.strip()})
    )
    log(f"raw figures in {saved_path}")
    if not args.no_readme:
        write_readme(render(results, opts, command.strip()))
        log(f"tables written to {README}")


if __name__ == "__main__":
    main()
