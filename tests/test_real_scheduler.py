"""harvest_nightly through a real Airflow deployment, not dag.test(): the scheduler (LocalExecutor),
dag-processor and api-server as separate processes on a PostgreSQL metadata database, archiving into S3
(SeaweedFS, harvester identity) from the bundled fake platforms. docs/deployment.md describes the same setup
for several machines; this is it on one.

PostgreSQL comes from Debian's `postgresql` package (/usr/lib/postgresql/*/bin; `make postgres` installs it
when root). Without it the test is skipped, unless CIVIC_ARCHIVE_REQUIRE_POSTGRES is set (CI), then it fails.
The server refuses to run as root, so when root it runs as `nobody` from a folder that user owns.
"""
from __future__ import annotations

import ctypes
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = ("facebook", "instagram", "x", "youtube")
RUN_TIMEOUT = 420.0  # the whole DAG run; about a minute here
STOP_TIMEOUT = 30.0

pytestmark = [pytest.mark.slow, pytest.mark.s3]


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL bin folder, else wherever initdb is on PATH."""
    def major(path: str) -> int:
        name = Path(path).parent.name
        return int(name) if name.isdigit() else 0

    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True):
        if all(os.access(Path(folder) / tool, os.X_OK) for tool in ("initdb", "postgres")):
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and (Path(initdb).parent / "postgres").exists() else None


def _die_with_parent() -> None:
    # If pytest itself is killed (no teardown), the kernel sends the child SIGTERM instead of leaving it running.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError as exc:
        return f"({path}: {exc.strerror})\n"


def _stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal the process group the child leads (it was started in a new session), then wait; kill if stuck."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    try:  # whatever is left in the group (forked task processes), even after the leader exited
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(timeout=10)


class Postgres:
    """A throw-away PostgreSQL server on 127.0.0.1 (trust auth, fsync off: test data only)."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="civic-archive-pg-"))  # not under pytest's 0700 tmp: see below
        self.user = None
        if os.geteuid() == 0:
            # PostgreSQL refuses root; `nobody` must own the data folder (and reach it: /tmp is world-searchable).
            self.user = "nobody"
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)
        self.log = self.root / "postgres.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def _run(self, *args: str) -> None:
        done = subprocess.run([str(self.bindir / args[0]), *args[1:]], user=self.user, cwd=self.root,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}\n{done.stderr}"

    def start(self) -> None:
        self._run("initdb", "-D", str(self.root / "data"), "-U", "airflow", "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        for _ in range(3):  # a new port if another process took ours in between
            self.port = _free_port()
            with open(self.log, "ab") as out:
                self.proc = subprocess.Popen(
                    [str(self.bindir / "postgres"), "-D", str(self.root / "data"), "-p", str(self.port),
                     "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                     "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                     "-c", "max_connections=200"],
                    user=self.user, cwd=self.root, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=_die_with_parent)
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"PostgreSQL did not start:\n{_tail(self.log)}")

    def _wait_ready(self) -> bool:
        import psycopg2

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                psycopg2.connect(host="127.0.0.1", port=self.port, user="airflow", dbname="postgres").close()
                return True
            except psycopg2.OperationalError:
                time.sleep(0.2)
        return False

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="airflow", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/{name}"

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="airflow", dbname="airflow")
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            _stop_group(proc, signal.SIGINT)  # SIGINT = PostgreSQL's "fast" shutdown

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    bindir = postgres_bin()
    if bindir is None:
        message = "needs Debian's postgresql package (make postgres, or apt-get install postgresql)"
        if os.environ.get("CIVIC_ARCHIVE_REQUIRE_POSTGRES"):
            pytest.fail(message + "; CIVIC_ARCHIVE_REQUIRE_POSTGRES is set")
        pytest.skip(message)
    server = Postgres(bindir)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


class Airflow:
    """Airflow's components as separate processes, one process group each, sharing one environment."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home = home
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}
        self.airflow = str(Path(sys.executable).parent / "airflow")

    def cli(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run([self.airflow, *args], env=self.env, cwd=self.home, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def start(self, name: str, *args: str) -> None:
        with open(self.home / f"{name}.log", "ab") as out:
            self.procs[name] = subprocess.Popen([self.airflow, name, *args], env=self.env, cwd=self.home,
                                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True, preexec_fn=_die_with_parent)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                log = _tail(self.home / f"{name}.log")
                raise AssertionError(f"airflow {name} exited with {proc.returncode}:\n{log}")

    def stop(self) -> None:
        # The scheduler first (no new task processes), the API server last (running tasks report to it).
        for name in ("scheduler", "dag-processor", "api-server"):
            if name in self.procs:
                _stop_group(self.procs[name])

    def logs(self) -> str:
        parts = [f"--- {name}.log (tail)\n{_tail(self.home / f'{name}.log', 40)}" for name in self.procs]
        for path in sorted((self.home / "logs").rglob("*.log")):
            parts.append(f"--- task log {path.relative_to(self.home)} (tail)\n{_tail(path, 25)}")
        return "\n".join(parts)


def _wait(what: str, check, timeout: float, airflow: Airflow, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        airflow.check_alive()
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{airflow.logs()}")


def _api_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_harvest_nightly_under_a_real_scheduler(postgres, seaweed, fakes, tmp_path):
    bucket = seaweed.create_bucket()
    archive = f"s3://{bucket}/nightly"
    doc, tokens = fakes.city_config(archive=archive, city="City of Example", jurisdiction="MO")
    accounts = {a["id"]: a["platform"] for a in doc["accounts"]}
    assert set(accounts.values()) == set(PLATFORMS)
    city = tmp_path / "city.yaml"
    city.write_text(yaml.safe_dump(doc))

    home = tmp_path / "airflow"
    home.mkdir()
    api_port = _free_port()
    access_key, secret_key = seaweed.credentials["harvester"]
    # A clean environment: nothing from pytest's own (SQLite) Airflow settings or AWS profile leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "CIVIC_ARCHIVE_"))}
    env.update(tokens)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.create_database("airflow"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(24).hex(),  # the same for every component
        "AIRFLOW__CORE__FERNET_KEY": "",
        "AIRFLOW__CORE__PARALLELISM": "4",  # two cores here
        "CIVIC_ARCHIVE_CONFIG": str(city),
        "CIVIC_ARCHIVE_RETRY_DELAY_SECONDS": "1",
        "CIVIC_ARCHIVE_LOCK_MODE": "GOVERNANCE",
        "CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS": "30",
        "AWS_ENDPOINT_URL": seaweed.endpoint_url,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    })
    airflow = Airflow(home, env)
    started = time.monotonic()
    try:
        airflow.cli("db", "migrate")
        pools = {f"civic_archive_{p}": {"slots": 2, "description": f"{p} API budget", "include_deferred": False}
                 for p in PLATFORMS}
        (home / "pools.json").write_text(json.dumps(pools))
        airflow.cli("pools", "import", str(home / "pools.json"))
        airflow.start("api-server")
        airflow.start("dag-processor")
        airflow.start("scheduler")
        _wait("the API server", lambda: _api_healthy(api_port), 180, airflow)
        _wait("harvest_nightly to be parsed",
              lambda: postgres.query("SELECT 1 FROM dag WHERE dag_id = 'harvest_nightly'"), 180, airflow)
        assert postgres.query("SELECT count(*) FROM import_error")[0][0] == 0, airflow.logs()
        # Unpausing is all it takes: the cron timetable (catchup off) schedules the latest 02:00 Chicago run.
        airflow.cli("dags", "unpause", "harvest_nightly")
        run_id, run_type, logical_date = _wait(
            "the scheduled run", lambda: postgres.query(
                "SELECT run_id, run_type, logical_date FROM dag_run WHERE dag_id = 'harvest_nightly'"), 120,
            airflow)[0]
        state = _wait("the run to end", lambda: next(
            (s for (s,) in postgres.query("SELECT state FROM dag_run WHERE run_id = %s", run_id)
             if s in ("success", "failed")), None), RUN_TIMEOUT, airflow, every=2.0)
        tis = postgres.query("SELECT task_id, map_index, state, pool, hostname FROM task_instance "
                             "WHERE run_id = %s ORDER BY task_id, map_index", run_id)
        listing = "\n".join(map(str, tis))
        assert state == "success", f"run {run_id} ended {state}:\n{listing}\n{airflow.logs()}"
        print(f"harvest_nightly {run_id} succeeded {time.monotonic() - started:.0f} s after `airflow db migrate`")
    finally:
        airflow.stop()

    assert run_type == "scheduled"
    local = logical_date.astimezone(ZoneInfo("America/Chicago"))
    assert (local.hour, local.minute) == (2, 0), logical_date
    harvests = [t for t in tis if t[0].startswith("harvest_")]
    assert len(harvests) == len(accounts)  # one mapped task instance per account
    assert {(t[0], t[3]) for t in harvests} == {(f"harvest_{p}", f"civic_archive_{p}") for p in accounts.values()}
    # Every task, not only the run: summarize also fails the run when a harvest task failed outright.
    assert all(t[2] == "success" for t in tis), f"not every task succeeded:\n{listing}\n{airflow.logs()}"

    # The auditor identity re-verifies what the workers wrote, through the command line an auditor would use.
    auditor_key, auditor_secret = seaweed.credentials["auditor"]
    verify_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    verify_env.update({"AWS_ENDPOINT_URL": seaweed.endpoint_url, "AWS_ACCESS_KEY_ID": auditor_key,
                       "AWS_SECRET_ACCESS_KEY": auditor_secret, "AWS_DEFAULT_REGION": "us-east-1"})
    done = subprocess.run([sys.executable, "-m", "civic_archive.cli", "verify", "--json", "--archive", archive],
                          env=verify_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["ok"] and not report["failures"] and not report["orphans"]
    assert set(report["chain_heads"]) == set(accounts)  # every account committed a manifest
    assert report["warc_records"] > 0

    store = seaweed.store("auditor", bucket, "nightly", lock_mode=None)
    warc = next(iter(store.list("warc/")))
    assert store.retention(warc).mode == "GOVERNANCE"  # the workers got the lock settings from their environment
