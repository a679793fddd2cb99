"""Real services the scale-out tests start on their own ports: a RabbitMQ node, nginx,
and ``modelport worker`` processes.

The RabbitMQ node has its own name, ports, mnesia and log folders and no plugins, so
the machine's node on 5672 is never touched; stopping and starting it again keeps its
durable queues and persistent messages, as a broker restart does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT, free_port


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class RabbitNode:
    """One RabbitMQ node in a private folder (the server drops to the rabbitmq user
    when started as root, so the folder is world-writable and outside pytest's tmp)."""

    home: Path
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def name(self) -> str:
        return f"mptest{self.port}@localhost"

    def start(self, timeout: float = 90) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o777)
        (self.home / "enabled_plugins").write_text("[].\n")
        (self.home / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq.conf"),
        }
        log = (self.home / "server.out").open("ab")
        self.process = subprocess.Popen(
            ["rabbitmq-server"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited:\n{self.log()[-3000:]}")
            if port_open(self.port):
                return
            time.sleep(0.2)
        raise RuntimeError(f"rabbitmq-server did not listen in {timeout}s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        """Stop the node and wait until its port is closed.

        Started as root, ``rabbitmq-server`` hands over to the rabbitmq user in a session of
        its own, so signalling our process group does not reach the Erlang VM; the node's
        processes are found by the node name in their environment instead.
        """
        if self.process is None:
            return
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while (port_open(self.port) or self._node_pids()) and time.monotonic() < deadline:
            time.sleep(0.2)
        self._signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.process = None
        if port_open(self.port):
            raise RuntimeError(f"RabbitMQ node {self.name} still listens on {self.port}")

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        for pid in self._node_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _node_pids(self) -> list[int]:
        """Processes of this node (epmd is shared between nodes and left alone)."""
        marker = f"RABBITMQ_NODENAME={self.name}".encode()
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if (proc / "comm").read_text().strip() == "epmd":
                    continue
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    pids.append(int(proc.name))
            except OSError:
                continue
        return pids

    def log(self) -> str:
        path = self.home / "server.out"
        return path.read_text(errors="replace") if path.exists() else ""


def rabbit_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="mp-rabbit-", dir="/tmp"))


def have_rabbitmq() -> bool:
    return shutil.which("rabbitmq-server") is not None


@dataclass
class Worker:
    """A ``modelport worker`` process."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def worker_env(data_dir: Path, database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
    env.update(
        {
            "MODELPORT_DATA_DIR": str(data_dir),
            "MODELPORT_DATABASE_URL": database_url,
            "MODELPORT_BROKER_URL": broker_url,
            "MODELPORT_WORKERS": "celery",
            "MODELPORT_LOG_FORMAT": "json",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


def start_worker(
    log_path: Path,
    env: dict[str, str],
    queues: str = "",
    concurrency: int = 1,
    metrics_port: int | None = None,
) -> Worker:
    """Start ``modelport worker`` and wait until it consumes from the broker."""
    cmd = [sys.executable, "-m", "clients.cli", "worker", f"--concurrency={concurrency}"]
    if queues:
        cmd.append(f"--queues={queues}")
    if metrics_port is not None:
        cmd.append(f"--metrics-port={metrics_port}")
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
    worker = Worker(proc, log_path)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{worker.log()[-3000:]}")
        if " ready." in worker.log():
            return worker
        time.sleep(0.2)
    worker.kill()
    raise RuntimeError(f"worker did not become ready:\n{worker.log()[-3000:]}")


NGINX_CONF = """
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    client_max_body_size 0;
    upstream modelport {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://modelport;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # A replica that is gone (refused, reset) is skipped; idempotent requests
            # go to the next one, an upload is never sent twice.
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 300s;
            proxy_request_buffering off;
            proxy_buffering off;
        }}
    }}
}}
"""


@dataclass
class Nginx:
    """nginx in the foreground with its own prefix, pid, logs and temp folders."""

    prefix: Path
    upstreams: list[str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.prefix.mkdir(parents=True, exist_ok=True)
        (self.prefix / "tmp").mkdir(exist_ok=True)
        os.chmod(self.prefix / "tmp", 0o777)  # nginx's workers run as nobody
        servers = "\n".join(
            f"        server {u} max_fails=1 fail_timeout=10s;" for u in self.upstreams
        )
        conf = self.prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=self.prefix, servers=servers, port=self.port))
        log = (self.prefix / "nginx.out").open("ab")
        self.process = subprocess.Popen(
            [nginx_binary(), "-p", str(self.prefix), "-c", str(conf), "-g", "daemon off;"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish requests
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        parts = [self.prefix / "nginx.out", self.prefix / "error.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def have_nginx() -> bool:
    return Path(nginx_binary()).exists()
