"""Real Redis and PostgreSQL servers for tests and benchmarks: started on free loopback ports in temporary
directories, stoppable and restartable under a running opper-mcp (same port, same data).

Import the classes (`RedisService`, `PostgresService`) or use the fixtures (`redis_service`,
`postgres_service`: one server per test session; `redis_url`, `postgres_url`: a clean database per test).
Without the binaries the fixtures skip, saying what to install.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.transport_support import free_port

START_TIMEOUT_S = 20.0
INSTALL_HINT = "install Debian's redis-server and postgresql packages (.ci/run does)"


def _wait(check: Any, what: str, proc: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {_tail(log)}")
        try:
            check()
            return
        except Exception as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer within {START_TIMEOUT_S:.0f} s ({last}): {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[Any] | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class RedisService:
    """redis-server with append-only persistence, a password, and no RDB snapshots.

    `appendfsync="always"` (the default here) makes every acknowledged write survive a SIGKILL;
    Redis's own default, "everysec", may lose the last second.
    """

    def __init__(self, root: Path | None = None, *, appendfsync: str = "always") -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise FileNotFoundError(f"redis-server not found: {INSTALL_HINT}")
        self.root = root or Path(tempfile.mkdtemp(prefix="opper-redis-"))
        self.port = free_port()
        self.password = "rds-" + secrets.token_hex(8)
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[Any] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)

    def start(self) -> None:
        log = self.root / "redis.log"
        self.proc = subprocess.Popen(
            [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "", "--requirepass", self.password,
             "--logfile", str(log), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def ping() -> None:
            with self.client() as c:
                c.ping()

        _wait(ping, "redis-server", self.proc, log)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): the append-only file is flushed."""
        _stop(self.proc, signal.SIGTERM)

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL)

    def flush(self) -> None:
        with self.client() as c:
            c.flushall()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise FileNotFoundError(f"PostgreSQL not found in /usr/lib/postgresql/*/bin: {INSTALL_HINT}")
    return Path(found[-1]).parent


class PostgresService:
    """A private PostgreSQL cluster (initdb + postgres), password auth over TCP on loopback.

    PostgreSQL refuses to run as root: when the tests run as root, the cluster belongs to (and runs as)
    the `postgres` system user. `durable=False` turns fsync off, for quick tests (never for benchmarks).
    Either way an acknowledged commit survives SIGKILL of the server.
    """

    def __init__(self, root: Path | None = None, *, durable: bool = False) -> None:
        self.bin = postgres_bin()
        self.root = root or Path(tempfile.mkdtemp(prefix="opper-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = "pg-" + secrets.token_hex(8)
        self.durable = durable
        self.proc: subprocess.Popen[Any] | None = None
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise FileNotFoundError("running as root needs the `postgres` system user (Debian's postgresql)") \
                    from exc
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        self._initdb()

    def _popen_kwargs(self) -> dict[str, Any]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": [],
                "env": {**os.environ, "HOME": self.root.as_posix(), "USER": "postgres"}}

    def _initdb(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self._user is not None:
            os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--pwfile", str(pwfile), "-E", "UTF8",
             "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions"],
            check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            cwd=self.root, **self._popen_kwargs(),
        )
        pwfile.unlink()

    @property
    def url(self) -> str:
        """The cluster's `postgres` database (see `url_for` and `create_database` for a private one)."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(self.url_for(dbname), autocommit=True, connect_timeout=3)

    def start(self) -> None:
        log = self.root / "postgres.log"
        settings = ["-c", "max_connections=200", "-c", "shared_buffers=32MB"]
        if not self.durable:
            # Commits still reach the OS before they are acknowledged, so they survive a killed server
            # (not a power cut): fine for tests, which never lose the machine.
            settings += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        with open(log, "ab") as out:
            if self._user is not None:
                os.chown(log, self._user.pw_uid, self._user.pw_gid)
            self.proc = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.root), "-p", str(self.port),
                 "-h", "127.0.0.1", *settings],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=self.root, **self._popen_kwargs(),
            )

        def ping() -> None:
            with self.connect() as conn:
                conn.execute("SELECT 1")

        _wait(ping, "postgres", self.proc, log)

    def stop(self) -> None:
        """A fast shutdown (SIGINT): sessions are ended, committed data stays."""
        _stop(self.proc, signal.SIGINT)

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL)

    def create_database(self) -> str:
        name = "t_" + secrets.token_hex(6)
        with self.connect() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


S = TypeVar("S", RedisService, PostgresService)


def _running(kind: type[S]) -> Iterator[S]:
    """A started service for the session, closed at its end; a skip with the reason when its binary is missing."""
    try:
        service = kind()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    service.start()
    try:
        yield service
    finally:
        service.close()


@pytest.fixture(scope="session")
def redis_service() -> Iterator[RedisService]:
    yield from _running(RedisService)


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[PostgresService]:
    yield from _running(PostgresService)


@pytest.fixture
def redis_url(redis_service: RedisService) -> str:
    """The session's Redis, running and empty."""
    if redis_service.proc is None or redis_service.proc.poll() is not None:
        redis_service.start()
    redis_service.flush()
    return redis_service.url


@pytest.fixture
def postgres_url(postgres_service: PostgresService) -> str:
    """A fresh database in the session's PostgreSQL, running."""
    if postgres_service.proc is None or postgres_service.proc.poll() is not None:
        postgres_service.start()
    return postgres_service.url_for(postgres_service.create_database())
