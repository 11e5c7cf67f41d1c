"""The local nginx-rtmp runner, against the real nginx and RTMP module."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.rtmp_server import (
    MODULE_CANDIDATES,
    TEMPLATE,
    RtmpServer,
    RtmpServerError,
    find_module,
    is_listening,
)

needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None or not any(p.is_file() for p in MODULE_CANDIDATES),
    reason="nginx is not installed (apt-get install nginx libnginx-mod-rtmp)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RtmpServer]:
    srv = RtmpServer(tmp_path, port=free_port())
    yield srv
    srv.stop()


def test_is_listening_false_on_a_closed_port() -> None:
    assert not is_listening("127.0.0.1", free_port())


def test_find_module_names_the_package_when_missing(tmp_path: Path) -> None:
    with pytest.raises(RtmpServerError, match="apt-get install nginx libnginx-mod-rtmp"):
        find_module((tmp_path / "nope.so",))


def test_missing_nginx_binary_is_a_clear_error(tmp_path: Path) -> None:
    srv = RtmpServer(tmp_path, port=free_port(), nginx="nginx-that-is-not-there")
    with pytest.raises(RtmpServerError, match=r"nginx not found .*apt-get install nginx"):
        srv.start()
    assert not srv.running


def test_renders_the_template_into_data_dir(tmp_path: Path) -> None:
    srv = RtmpServer(tmp_path, port=12345, module=Path("/x/ngx_rtmp_module.so"))
    conf = srv.render().read_text()
    assert conf.startswith("#") and "load_module /x/ngx_rtmp_module.so;" in conf
    assert "listen 127.0.0.1:12345;" in conf
    assert f"access_log {tmp_path.resolve()}/nginx/access.log;" in conf
    assert "$" not in conf.replace("$name", "")  # every placeholder filled


@needs_nginx
def test_starts_accepts_restarts_and_stops(server: RtmpServer) -> None:
    find_module()
    with server:
        assert server.running and is_listening("127.0.0.1", server.port)
        pid = server.pid
        server.restart()
        assert server.pid != pid and is_listening("127.0.0.1", server.port)
        assert server.url() == f"rtmp://127.0.0.1:{server.port}/live/avatar"
    assert not server.running and server.pid is None
    assert not is_listening("127.0.0.1", server.port)


@needs_nginx
def test_killed_server_starts_again_on_the_same_port(server: RtmpServer) -> None:
    server.start()
    server.kill()
    assert not is_listening("127.0.0.1", server.port)
    server.start()
    assert is_listening("127.0.0.1", server.port)


@needs_nginx
def test_port_in_use_is_a_clear_error(server: RtmpServer, tmp_path: Path) -> None:
    server.start()
    other = RtmpServer(tmp_path / "other", port=server.port)
    with pytest.raises(RtmpServerError, match="already in use"):
        other.start()


@needs_nginx
def test_early_exit_reports_the_error_log(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text(TEMPLATE.read_text().replace("record off;", "record off; no_such_thing 1;"))
    srv = RtmpServer(tmp_path, port=free_port(), template=bad)
    with pytest.raises(
        RtmpServerError, match=r"(?s)exited with code 1.*unknown directive \"no_such_thing\""
    ):
        srv.start()
    assert not srv.running
