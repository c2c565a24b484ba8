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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from tests.transport_support import free_port, missing

if TYPE_CHECKING:
    import trustme

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


def private_ca(root: Path, *server_names: str) -> trustme.CA:
    """A CA made for the run (`root/ca.crt`) and a server certificate from it for `server_names`
    (`root/server.crt`, `root/server.key`); returns the `trustme.CA` for further certificates."""
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.crt"))
    server = ca.issue_cert(*server_names)
    server.cert_chain_pems[0].write_to_path(str(root / "server.crt"))
    server.private_key_pem.write_to_path(str(root / "server.key"))
    return ca


class RedisService:
    """redis-server with append-only persistence, a password, and no RDB snapshots.

    `appendfsync="always"` (the default here) makes every acknowledged write survive a SIGKILL;
    Redis's own default, "everysec", may lose the last second.

    `tls=True` serves TLS only (`rediss://`), with a certificate from a private CA made for the run;
    `client_certs=True` also requires clients to present one signed by that CA (mutual TLS);
    `server_names` are the names the server's certificate is issued for.
    """

    def __init__(self, root: Path | None = None, *, appendfsync: str = "always", tls: bool = False,
                 client_certs: bool = False, server_names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise FileNotFoundError(f"redis-server not found: {INSTALL_HINT}")
        self.root = root or Path(tempfile.mkdtemp(prefix="opper-redis-"))
        self.port = free_port()
        self.password = "rds-" + secrets.token_hex(8)
        self.appendfsync = appendfsync
        self.tls = tls or client_certs
        self.client_certs = client_certs
        self.server_names = server_names
        self.proc: subprocess.Popen[Any] | None = None
        if self.tls:
            self._make_certificates()

    def _make_certificates(self) -> None:
        ca = private_ca(self.root, *self.server_names)
        client = ca.issue_cert("opper-mcp-client.test")
        client.cert_chain_pems[0].write_to_path(str(self.root / "client.crt"))
        client.private_key_pem.write_to_path(str(self.root / "client.key"))

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.crt"

    @property
    def url(self) -> str:
        if not self.tls:
            return f"redis://:{self.password}@127.0.0.1:{self.port}/0"
        query = f"ssl_ca_certs={self.ca_file}"
        if self.client_certs:
            query += f"&ssl_certfile={self.root / 'client.crt'}&ssl_keyfile={self.root / 'client.key'}"
        return f"rediss://:{self.password}@127.0.0.1:{self.port}/0?{query}"

    def client(self) -> Any:
        import redis

        # The fixture's own client trusts the CA but not the names: only the store under test must check those.
        names = {"ssl_check_hostname": False} if self.tls else {}
        return redis.Redis.from_url(self.url, socket_timeout=5, **names)

    def start(self) -> None:
        log = self.root / "redis.log"
        listen = ["--port", str(self.port)]
        if self.tls:
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.root / "server.crt"),
                      "--tls-key-file", str(self.root / "server.key"), "--tls-ca-cert-file", str(self.ca_file),
                      "--tls-auth-clients", "yes" if self.client_certs else "no"]
        self.proc = subprocess.Popen(
            [str(self.binary), *listen, "--bind", "127.0.0.1", "--dir", str(self.root),
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
    Either way an acknowledged commit survives SIGKILL of the server. `tls=True` accepts TLS connections
    only (`hostssl`), with a certificate from a private CA; its URLs ask libpq to verify it (`verify-full`).
    """

    def __init__(self, root: Path | None = None, *, durable: bool = False, tls: bool = False) -> None:
        self.bin = postgres_bin()
        self.root = root or Path(tempfile.mkdtemp(prefix="opper-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = "pg-" + secrets.token_hex(8)
        self.durable = durable
        self.tls = tls
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
        if tls:
            self._make_certificates()

    def _make_certificates(self) -> None:
        """The server's key and certificate (owned by the server's user, key mode 0600 as PostgreSQL demands),
        the CA for clients, and a pg_hba.conf that refuses TCP connections without TLS."""
        private_ca(self.root, "127.0.0.1", "localhost")
        (self.root / "server.key").chmod(0o600)
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n")
        if self._user is not None:
            for name in ("server.crt", "server.key"):
                os.chown(self.root / name, self._user.pw_uid, self._user.pw_gid)

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.crt"

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
        url = f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{dbname}"
        return f"{url}?sslmode=verify-full&sslrootcert={self.ca_file}" if self.tls else url

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
        if self.tls:
            settings += ["-c", "ssl=on", "-c", f"ssl_cert_file={self.root / 'server.crt'}",
                         "-c", f"ssl_key_file={self.root / 'server.key'}"]
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


def running(kind: Callable[[], S]) -> Iterator[S]:
    """A started service for the session, closed at its end; a skip with the reason when its binary is missing."""
    try:
        service = kind()
    except FileNotFoundError as exc:
        missing(str(exc))
    service.start()
    try:
        yield service
    finally:
        service.close()


@pytest.fixture(scope="session")
def redis_service() -> Iterator[RedisService]:
    yield from running(RedisService)


@pytest.fixture(scope="session")
def rediss_service() -> Iterator[RedisService]:
    """Redis over TLS only, its certificate from a private CA that the URL names (`ssl_ca_certs=`)."""
    yield from running(lambda: RedisService(tls=True))


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[PostgresService]:
    yield from running(PostgresService)


def _running_and_empty(service: RedisService) -> str:
    if service.proc is None or service.proc.poll() is not None:
        service.start()
    service.flush()
    return service.url


@pytest.fixture
def redis_url(redis_service: RedisService) -> str:
    """The session's Redis, running and empty."""
    return _running_and_empty(redis_service)


@pytest.fixture(scope="session")
def postgres_tls_service() -> Iterator[PostgresService]:
    """PostgreSQL that accepts TLS connections only, its certificate from a private CA the URLs name."""
    yield from running(lambda: PostgresService(tls=True))


@pytest.fixture
def rediss_url(rediss_service: RedisService) -> str:
    """The session's TLS Redis, running and empty."""
    return _running_and_empty(rediss_service)


def _running_with_a_fresh_database(service: PostgresService) -> str:
    if service.proc is None or service.proc.poll() is not None:
        service.start()
    return service.url_for(service.create_database())


@pytest.fixture
def postgres_url(postgres_service: PostgresService) -> str:
    """A fresh database in the session's PostgreSQL, running."""
    return _running_with_a_fresh_database(postgres_service)


@pytest.fixture
def postgres_tls_url(postgres_tls_service: PostgresService) -> str:
    """A fresh database in the session's TLS-only PostgreSQL, running."""
    return _running_with_a_fresh_database(postgres_tls_service)
