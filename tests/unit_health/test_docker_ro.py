# -*- coding: utf-8 -*-
"""Tests of the read-only Docker API proxy (roles/health/files/cslr_docker_ro.py): a fake engine
on a unix socket in tmp_path counts what reaches it; the proxy runs in a thread on another
socket; reads pass, everything else is refused with 403 and never reaches the engine."""

import http.client
import json
import os
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

import role_files

ro = role_files.load('cslr_docker_ro')


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        http.client.HTTPConnection.__init__(self, 'localhost', timeout=5)
        self.path_ = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path_)


@pytest.fixture()
def proxy(tmp_path):
    seen = []

    class Engine(BaseHTTPRequestHandler):
        def address_string(self):
            return 'unix'

        def log_message(self, *args):
            pass

        def _answer(self):
            seen.append((self.command, self.path))
            body = json.dumps([{'Id': 'abc'}]).encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer

    engine_path = str(tmp_path / 'engine.sock')
    proxy_path = str(tmp_path / 'run' / 'docker.sock')
    engine = socketserver.UnixStreamServer(engine_path, Engine)
    threading.Thread(target=engine.serve_forever, daemon=True).start()
    threading.Thread(target=ro.serve, args=(engine_path, proxy_path), daemon=True).start()
    # The socket file exists from bind(), before listen(): wait until a connection is accepted
    # (under load that can take a while: 10 s at most).
    deadline = time.time() + 10
    while True:
        try:
            probe = UnixConn(proxy_path)
            probe.request('GET', '/_ping')
            probe.getresponse().read()
            probe.close()
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.02)
    del seen[:]  # the probe's request
    yield proxy_path, seen
    engine.shutdown()


def call(path, method, target, body=None):
    conn = UnixConn(path)
    conn.request(method, target, body=body)
    resp = conn.getresponse()
    return resp.status, resp.read()


@pytest.mark.parametrize('method,target,ok', [
    ('GET', '/containers/json?all=1&filters=%7B%7D', True),
    ('GET', '/v1.45/containers/json', True),
    ('GET', '/_ping', True),
    ('GET', '/version', True),
    ('GET', '/containers/abc/json', False),
    ('GET', '/containers/abc/logs', False),
    ('GET', '/images/json', False),
    ('POST', '/containers/create', False),
    ('POST', '/v1.45/containers/abc/exec', False),
    ('DELETE', '/containers/abc', False),
    ('GET', '/containers/json/../create', False),
])
def test_only_reads_of_the_container_list_pass(proxy, method, target, ok):
    path, seen = proxy
    status, body = call(path, method, target, body=b'{}' if method == 'POST' else None)
    if ok:
        assert status == 200 and json.loads(body) == [{'Id': 'abc'}]
        assert seen == [(method, target)]
    else:
        assert status == 403 and b'not allowed' in body
        assert seen == []


def test_check_answers_from_the_proxy(proxy):
    path, _ = proxy
    assert ro.check(path) == 0
    assert ro.check(path + '.missing') == 1


def test_socket_mode(proxy):
    path, _ = proxy
    assert os.stat(path).st_mode & 0o777 == 0o660


def test_a_refused_request_with_a_body_gets_its_403_not_a_broken_pipe(proxy):
    # The proxy reads the body before it answers: a client still sending (here 512 KiB) gets the
    # 403 instead of EPIPE (seen under load with a 2-byte body).
    path, seen = proxy
    status, body = call(path, 'POST', '/containers/create', body=b'x' * (512 * 1024))
    assert status == 403 and b'not allowed' in body
    assert seen == []
