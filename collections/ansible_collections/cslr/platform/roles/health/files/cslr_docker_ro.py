# Run as `python3 cslr_docker_ro.py` (no shebang: ansible-test sanity allows none on a non-executable file).
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cslr.platform read-only Docker API for the health service.

The Docker socket is root on the host: whoever can write to it can start a privileged
container. The health service answers the network, so it does not get the socket; it gets
this proxy's socket instead, which forwards the few read-only calls it makes (listing the
containers, ping, version) to the engine and refuses every other method and path with 403.

Standard library only. Environment:
  CSLR_DOCKER_SOCKET   the engine's socket (default /var/run/docker.sock)
  CSLR_PROXY_SOCKET    the socket this listens on (default /run/cslr-health/docker.sock)

    python3 cslr_docker_ro.py              serve
    python3 cslr_docker_ro.py --check      exit 0 when the proxy answers GET /_ping (healthcheck)
"""
import http.client
import http.server
import json
import os
import re
import socket
import socketserver
import sys

# Paths (an optional /vX.Y API version prefix, then one of these) that may be read.
ALLOWED = re.compile(r'^(/v\d+\.\d+)?/(_ping|version|containers/json)$')


# Request bodies up to this size are read (and dropped) before a refusal; a bigger one is not read.
MAX_DRAINED = 1 << 20


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        http.client.HTTPConnection.__init__(self, 'localhost', timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except Exception:
            sock.close()
            raise
        self.sock = sock


def allowed(method, target):
    """Whether a request may pass: GET of a listed path (any query string)."""
    return method in ('GET', 'HEAD') and bool(ALLOWED.match(target.split('?', 1)[0]))


class Handler(http.server.BaseHTTPRequestHandler):
    engine = '/var/run/docker.sock'
    protocol_version = 'HTTP/1.0'

    def address_string(self):
        return 'unix'

    def log_message(self, fmt, *args):  # quiet: the health service polls often
        return

    def _refuse(self):
        # Read the request's body first: closing a connection the client is still writing to would
        # answer it with a broken pipe instead of the 403.
        try:
            length = int(self.headers.get('Content-Length') or 0)
        except ValueError:
            length = 0
        if 0 < length <= MAX_DRAINED:
            self.rfile.read(length)
        body = json.dumps({'message': 'cslr read-only Docker API: %s %s is not allowed'
                           % (self.command, self.path.split('?', 1)[0])}).encode()
        self.send_response(403)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self):
        if not allowed(self.command, self.path):
            return self._refuse()
        conn = UnixHTTPConnection(self.engine)
        try:
            conn.request(self.command, self.path, headers={'Host': 'docker', 'Accept': 'application/json'})
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            body = json.dumps({'message': 'engine unavailable: %s' % exc}).encode()
            self.send_response(502)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        finally:
            conn.close()
        self.send_response(resp.status)
        self.send_header('Content-Type', resp.getheader('Content-Type') or 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
        return None

    do_GET = do_HEAD = _forward
    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(engine, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    Handler.engine = engine
    server = Server(path, Handler)
    os.chmod(path, 0o660)
    server.serve_forever()


def check(path):
    conn = UnixHTTPConnection(path, timeout=3)
    try:
        conn.request('GET', '/_ping', headers={'Host': 'docker'})
        return 0 if conn.getresponse().status == 200 else 1
    except (OSError, http.client.HTTPException):
        return 1
    finally:
        conn.close()


def main(argv, env=None):
    env = os.environ if env is None else env
    engine = env.get('CSLR_DOCKER_SOCKET') or '/var/run/docker.sock'
    path = env.get('CSLR_PROXY_SOCKET') or '/run/cslr-health/docker.sock'
    if '--check' in argv:
        return check(path)
    serve(engine, path)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
