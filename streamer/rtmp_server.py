"""A local nginx-rtmp server run as a child process.

The publisher streams to it and OBS (or any player) reads from it. The config is
``config/nginx-rtmp.conf`` rendered with :class:`string.Template` into
``<data_dir>/nginx/``; nginx runs in the foreground (``daemon off; master_process
off;``) with its logs and pid file there, so it needs no root.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import string
import subprocess
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

TEMPLATE = Path(__file__).resolve().parent.parent / "config" / "nginx-rtmp.conf"

MODULE_CANDIDATES = (
    Path("/usr/lib/nginx/modules/ngx_rtmp_module.so"),  # Debian, Ubuntu
    Path("/usr/lib64/nginx/modules/ngx_rtmp_module.so"),  # Fedora, RHEL
    Path("/usr/share/nginx/modules/ngx_rtmp_module.so"),
    Path("/usr/local/nginx/modules/ngx_rtmp_module.so"),
    Path("/etc/nginx/modules/ngx_rtmp_module.so"),
)

INSTALL_HINT = "install it with: sudo apt-get install nginx libnginx-mod-rtmp"


class RtmpServerError(RuntimeError):
    """nginx-rtmp is missing, misconfigured or did not start."""


def find_module(candidates: tuple[Path, ...] = MODULE_CANDIDATES) -> Path:
    """Return the path of ``ngx_rtmp_module.so`` or raise :class:`RtmpServerError`."""
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise RtmpServerError(f"nginx RTMP module not found (looked in {tried}); {INSTALL_HINT}")


def is_listening(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a TCP connection to ``host:port`` succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class RtmpServer:
    """nginx with the RTMP module, listening on ``host:port``, as a child process.

    ``start()`` returns once the port accepts connections. Use it as a context
    manager, or call ``stop()``; ``restart()`` stops and starts it on the same port.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int = 1935,
        host: str = "127.0.0.1",
        *,
        nginx: str = "nginx",
        module: Path | None = None,
        template: Path = TEMPLATE,
        start_timeout: float = 5.0,
    ) -> None:
        self.dir = Path(data_dir).resolve() / "nginx"
        self.host = host
        self.port = port
        self.nginx = nginx
        self.module = module
        self.template = template
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def conf_file(self) -> Path:
        return self.dir / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.dir / "error.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def url(self, stream: str = "avatar", app: str = "live") -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"rtmp://{host}:{self.port}/{app}/{stream}"

    def render(self) -> Path:
        """Write the config for this server into ``self.dir`` and return its path."""
        try:
            text = self.template.read_text(encoding="utf-8")
        except OSError as e:
            raise RtmpServerError(f"cannot read the nginx template {self.template}: {e}") from e
        module = self.module or find_module()
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            conf = string.Template(text).substitute(
                module=str(module), data_dir=str(self.dir), host=self.host, port=self.port
            )
        except (KeyError, ValueError) as e:
            raise RtmpServerError(f"bad placeholder in {self.template}: {e}") from e
        self.conf_file.write_text(conf, encoding="utf-8")
        return self.conf_file

    def error_log_tail(self, lines: int = 15) -> str:
        try:
            text = self.error_log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        if self.running:
            return
        binary = shutil.which(self.nginx)
        if binary is None:
            raise RtmpServerError(
                f"nginx not found ({self.nginx!r} is not on PATH); {INSTALL_HINT}"
            )
        if is_listening(self.host, self.port):
            raise RtmpServerError(
                f"{self.host}:{self.port} is already in use; stop what listens there "
                "or pick another port (output.rtmp_server_port)"
            )
        conf = self.render()
        with contextlib.suppress(FileNotFoundError):
            self.error_log.unlink()
        cmd = [binary, "-p", f"{self.dir}/", "-c", str(conf), "-e", str(self.error_log)]
        log.info("starting nginx-rtmp on %s:%d (%s)", self.host, self.port, conf)
        stderr_file = self.dir / "stderr.log"
        # A file, not a pipe: nobody reads a pipe while nginx runs, and a full one blocks it.
        with stderr_file.open("wb") as err:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, not nginx
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                stderr = stderr_file.read_text(encoding="utf-8", errors="replace")
                self._reap()
                detail = "\n".join(x for x in (stderr.strip(), self.error_log_tail()) if x)
                raise RtmpServerError(
                    f"nginx exited with code {code} at start ({conf}):\n{detail or '(no output)'}"
                )
            if is_listening(self.host, self.port, timeout=0.1):
                log.info("nginx-rtmp listening on %s:%d (pid %d)", self.host, self.port, self.pid)
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RtmpServerError(
                    f"nginx did not listen on {self.host}:{self.port} within "
                    f"{self.start_timeout:.0f} s:\n{self.error_log_tail()}"
                )
            time.sleep(0.01)  # poll the port; nginx usually listens within 30 ms

    def stop(self, timeout: float = 3.0) -> None:
        """Fast shutdown (SIGTERM), then SIGKILL after ``timeout`` seconds; reaps nginx."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("nginx did not stop within %.1f s; killing it", timeout)
                proc.kill()
                proc.wait()
        self._reap()
        log.info("nginx-rtmp on port %d stopped", self.port)

    def kill(self) -> None:
        """SIGKILL nginx at once, as a crash would (for tests); reaps it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _reap(self) -> None:
        if self._proc is None:
            return
        self._proc.wait()
        self._proc = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.dir / "nginx.pid")

    def __enter__(self) -> RtmpServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
