# Run as `python3 cslr_health.py` (no shebang: ansible-test sanity allows none on a non-executable file).
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cslr.platform health service: one small HTTP server per cluster host.

Standard library only (Python >= 3.9). It runs inside a container with host
networking, the socket of its stack's read-only Docker API proxy
(cslr_docker_ro.py: GET of the container list only, never the engine's own
socket) and /etc/cslr mounted read-only; Ansible delivers this file as a bind mount, so production can use
the public python image unchanged.

Endpoints
  GET /         200, JSON:
                  host             CSLR_HOST, else the container's hostname
                  cluster_address  CSLR_CLUSTER_ADDRESS (null when unset)
                  ray_role         "head", "worker" or "none". When Docker
                                   answers: "none" unless the Ray stack's
                                   container (project <prefix>-ray) runs; then
                                   the role the Ray entrypoint reports in
                                   <state>/role (it decides again at every
                                   container start, e.g. after a failover).
                                   Otherwise, or without that file: the file
                                   <etc>/ray_role (written by Ansible after
                                   the election), else env CSLR_RAY_ROLE,
                                   else "none"
                  ray_version      env CSLR_RAY_VERSION, else <etc>/ray_version,
                                   else null
                  gpu_count        <etc>/gpu_count, else env CSLR_GPU_COUNT,
                                   else 0
                  stacks           {compose project: [{container, service,
                                   state, health}]} for every container (running
                                   or not) whose com.docker.compose.project
                                   label starts with CSLR_PROJECT_PREFIX
                  docker           "ok", or "unavailable: <reason>"
                  disk             {name: {path, total_bytes, free_bytes,
                                   used_percent}} for each directory of
                                   CSLR_DISK_PATHS (the filesystem it is on,
                                   as `df` shows it: free_bytes is what
                                   non-root users may still write); {path,
                                   error} when it cannot be read
                  time             now, ISO 8601, UTC
  GET /metrics  200, the same in Prometheus' text format (0.0.4):
                  cslr_docker_up, cslr_container_running and
                  cslr_container_healthy {project, service, container},
                  cslr_ray_role {role} (1 for this host's role, 0 for the
                  others), cslr_ray_version_info {version}, cslr_gpu_count,
                  cslr_disk_total_bytes, cslr_disk_free_bytes and
                  cslr_disk_used_ratio {name, path}
  GET /healthz  200 "ok" (liveness: no Docker call, no file read)
  anything else 404 (405 for methods other than GET/HEAD)

Docker API errors never crash the service and never turn `/` into an error:
when the Engine API cannot be reached or answers badly (socket missing,
permission denied, timeout, non-200, invalid JSON), `/` still answers 200,
with "stacks": {} and "docker": "unavailable: <reason>". Callers that need
the stacks must check "docker" == "ok".

`health` is the container's health check status ("healthy", "unhealthy",
"starting") or "none" when the container has no health check.

Environment
  CSLR_HEALTH_PORT       TCP port (default 8888)
  CSLR_HEALTH_BIND       bind address (default 0.0.0.0)
  CSLR_HOST              host name reported (default: hostname)
  CSLR_CLUSTER_ADDRESS   the host's cluster address reported
  CSLR_PROJECT_PREFIX    compose project prefix of the stacks (default "cslr")
  CSLR_RAY_ROLE          fallback when <etc>/ray_role is missing
  CSLR_RAY_VERSION       Ray version reported (else <etc>/ray_version)
  CSLR_GPU_COUNT         fallback when <etc>/gpu_count is missing
  CSLR_ETC_DIR           directory of the files above (default /etc/cslr)
  CSLR_RAY_STATE_DIR     the Ray entrypoint's state directory (file `role`;
                         default /var/lib/cslr/ray)
  CSLR_DOCKER_SOCKET     Docker Engine socket (default /var/run/docker.sock)
  CSLR_DOCKER_TIMEOUT    seconds per Docker API call (default 2)
  CSLR_HEALTH_ACCESS_LOG "1" logs every request to stderr (default: errors only)
  CSLR_DISK_PATHS        "name=/host/path,..." directories whose filesystem
                         `disk` reports (default: none)
  CSLR_DISK_ROOT         where the directories are in the container: the
                         filesystem of `name` is read at <CSLR_DISK_ROOT>/<name>
                         (default: unset, read at the path itself). Ansible
                         mounts there an empty directory made inside each one
                         (.cslr-disk), so the service sees none of their data

SIGTERM and SIGINT stop the server cleanly (exit status 0).
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RAY_ROLES = ('head', 'worker', 'none')
COMPOSE_PROJECT = 'com.docker.compose.project'
COMPOSE_SERVICE = 'com.docker.compose.service'
DISK_NAME = re.compile(r'^[a-z][a-z0-9_]*$')


def log(msg):
    sys.stderr.write('cslr-health: %s\n' % msg)
    sys.stderr.flush()


class Config(object):
    """Settings, read once from the environment (a mapping, for tests)."""

    def __init__(self, env=None):
        env = os.environ if env is None else env
        self.port = int(env.get('CSLR_HEALTH_PORT') or 8888)
        self.bind = env.get('CSLR_HEALTH_BIND') or '0.0.0.0'
        self.host = env.get('CSLR_HOST') or socket.gethostname()
        self.cluster_address = env.get('CSLR_CLUSTER_ADDRESS') or None
        self.project_prefix = env.get('CSLR_PROJECT_PREFIX', 'cslr')
        self.ray_role = env.get('CSLR_RAY_ROLE') or None
        self.ray_version = env.get('CSLR_RAY_VERSION') or None
        self.gpu_count = env.get('CSLR_GPU_COUNT') or None
        self.etc_dir = env.get('CSLR_ETC_DIR') or '/etc/cslr'
        self.ray_state_dir = env.get('CSLR_RAY_STATE_DIR') or '/var/lib/cslr/ray'
        self.docker_socket = env.get('CSLR_DOCKER_SOCKET') or '/var/run/docker.sock'
        self.docker_timeout = float(env.get('CSLR_DOCKER_TIMEOUT') or 2)
        self.access_log = (env.get('CSLR_HEALTH_ACCESS_LOG') or '') == '1'
        self.disk_paths = parse_disk_paths(env.get('CSLR_DISK_PATHS') or '')
        self.disk_root = env.get('CSLR_DISK_ROOT') or ''


def parse_disk_paths(value):
    """'name=/host/path,...' -> [(name, path)]; ValueError naming the bad entry."""
    result = []
    for entry in value.split(','):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, path = entry.partition('=')
        name, path = name.strip(), path.strip()
        if not sep or not DISK_NAME.match(name) or not path.startswith('/'):
            raise ValueError('CSLR_DISK_PATHS: %r is not name=/absolute/path (name: lower case letters, digits, _)'
                             % entry)
        if name in [n for n, _p in result]:
            raise ValueError('CSLR_DISK_PATHS: %r is named twice' % name)
        result.append((name, path))
    return result


# ---------------------------------------------------------------- Docker API

class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket (the Docker Engine API)."""

    def __init__(self, path, timeout):
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


class DockerUnavailable(Exception):
    pass


def docker_get(socket_path, path, timeout):
    """GET `path` from the Engine API; the decoded JSON, or DockerUnavailable."""
    conn = UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request('GET', path, headers={'Host': 'docker', 'Accept': 'application/json'})
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
        raise DockerUnavailable('%s: %s' % (socket_path, reason))
    finally:
        conn.close()
    if resp.status != 200:
        text = body[:200].decode('utf-8', 'replace').strip()
        raise DockerUnavailable('Docker API %s answered %s %s' % (path.split('?')[0], resp.status, text))
    try:
        return json.loads(body.decode('utf-8'))
    except ValueError as exc:
        raise DockerUnavailable('Docker API answered invalid JSON: %s' % exc)


def container_health(summary):
    """The health check status of a /containers/json entry, or 'none'."""
    health = summary.get('Health')
    if isinstance(health, dict) and health.get('Status'):
        # API >= 1.52 reports it directly.
        return health['Status'] if health['Status'] != 'none' else 'none'
    status = summary.get('Status') or ''
    if '(healthy)' in status:
        return 'healthy'
    if '(unhealthy)' in status:
        return 'unhealthy'
    if '(health: starting)' in status:
        return 'starting'
    return 'none'


def stacks_from_containers(containers, prefix):
    """Group /containers/json entries by compose project (those starting with prefix)."""
    stacks = {}
    if not isinstance(containers, list):
        raise DockerUnavailable('Docker API answered %s, not a list of containers' % type(containers).__name__)
    for c in containers:
        labels = c.get('Labels') or {}
        project = labels.get(COMPOSE_PROJECT)
        if not project or not project.startswith(prefix):
            continue
        names = c.get('Names') or []
        name = names[0].lstrip('/') if names else (c.get('Id') or '')[:12]
        stacks.setdefault(project, []).append({
            'container': name,
            'service': labels.get(COMPOSE_SERVICE),
            'state': c.get('State') or 'unknown',
            'health': container_health(c),
        })
    for members in stacks.values():
        members.sort(key=lambda m: (m['service'] or '', m['container']))
    return stacks


def read_stacks(cfg):
    """(stacks, docker) where docker is 'ok' or 'unavailable: <reason>'."""
    query = urllib.parse.urlencode({'all': '1', 'filters': json.dumps({'label': [COMPOSE_PROJECT]})})
    try:
        containers = docker_get(cfg.docker_socket, '/containers/json?' + query, cfg.docker_timeout)
        return stacks_from_containers(containers, cfg.project_prefix), 'ok'
    except DockerUnavailable as exc:
        return {}, 'unavailable: %s' % exc
    except Exception as exc:  # never let a surprise answer take the service down
        return {}, 'unavailable: %s: %s' % (type(exc).__name__, exc)


# ---------------------------------------------------------------- host facts

def _read_file(path):
    try:
        with open(path, 'r') as f:
            return f.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _valid_role(role):
    role = (role or '').lower()
    return role if role in RAY_ROLES else None


def ray_role(cfg, stacks=None):
    """This host's Ray role. stacks: read_stacks()'s answer when Docker answered, else None."""
    if stacks is not None:
        ray = stacks.get(cfg.project_prefix + '-ray') or []
        if not any(member['state'] == 'running' for member in ray):
            return 'none'
        live = _valid_role(_read_file(os.path.join(cfg.ray_state_dir, 'role')))
        if live:
            return live
    role = _read_file(os.path.join(cfg.etc_dir, 'ray_role')) or cfg.ray_role or 'none'
    return _valid_role(role) or 'none'


def ray_version(cfg):
    return cfg.ray_version or _read_file(os.path.join(cfg.etc_dir, 'ray_version'))


def gpu_count(cfg):
    raw = _read_file(os.path.join(cfg.etc_dir, 'gpu_count')) or cfg.gpu_count
    try:
        return max(int(raw), 0) if raw is not None else 0
    except ValueError:
        return 0


def disk_usage(cfg):
    """{name: {path, total_bytes, free_bytes, used_percent}} (or {path, error}) of CSLR_DISK_PATHS."""
    result = {}
    for name, path in cfg.disk_paths:
        where = os.path.join(cfg.disk_root, name) if cfg.disk_root else path
        try:
            st = os.statvfs(where)
        except OSError as exc:
            result[name] = {'path': path, 'error': exc.strerror or str(exc)}
            continue
        total = st.f_blocks * st.f_frsize
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        free = st.f_bavail * st.f_frsize
        # df's Use%: used / (used + what non-root users may still write), here to one decimal.
        usable = used + free
        result[name] = {'path': path, 'total_bytes': total, 'free_bytes': free,
                        'used_percent': round(100.0 * used / usable, 1) if usable else 0.0}
    return result


def status(cfg):
    stacks, docker = read_stacks(cfg)
    return {
        'host': cfg.host,
        'cluster_address': cfg.cluster_address,
        'ray_role': ray_role(cfg, stacks if docker == 'ok' else None),
        'ray_version': ray_version(cfg),
        'gpu_count': gpu_count(cfg),
        'stacks': stacks,
        'docker': docker,
        'disk': disk_usage(cfg),
        'time': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
    }


# ---------------------------------------------------------------- Prometheus

def _label(value):
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _sample(name, labels, value):
    inner = ','.join('%s="%s"' % (k, _label(v)) for k, v in labels)
    return '%s%s %s' % (name, '{%s}' % inner if inner else '', value)


def metrics(st):
    """status()'s answer in Prometheus' text exposition format (0.0.4)."""
    families = []

    def family(name, kind, text, samples):
        families.append('# HELP %s %s\n# TYPE %s %s\n' % (name, text, name, kind)
                        + ''.join(_sample(name, labels, value) + '\n' for labels, value in samples))

    family('cslr_docker_up', 'gauge', 'Whether the Docker Engine answered the health service (1) or not (0).',
           [((), 1 if st['docker'] == 'ok' else 0)])
    members = [(project, m) for project in sorted(st['stacks']) for m in st['stacks'][project]]
    family('cslr_container_running', 'gauge', 'Whether a container of a platform stack runs (1) or not (0).',
           [((('project', p), ('service', m['service'] or ''), ('container', m['container'])),
             1 if m['state'] == 'running' else 0) for p, m in members])
    family('cslr_container_healthy', 'gauge', 'Whether a container with a health check is healthy (1) or not '
           '(0: unhealthy or starting).',
           [((('project', p), ('service', m['service'] or ''), ('container', m['container'])),
             1 if m['health'] == 'healthy' else 0) for p, m in members if m['health'] != 'none'])
    family('cslr_ray_role', 'gauge', 'The Ray role of this host: 1 for its role, 0 for the others.',
           [((('role', role),), 1 if st['ray_role'] == role else 0) for role in RAY_ROLES])
    if st['ray_version']:
        family('cslr_ray_version_info', 'gauge', 'The Ray version of this host.',
               [((('version', st['ray_version']),), 1)])
    family('cslr_gpu_count', 'gauge', 'GPUs of this host.', [((), st['gpu_count'])])
    disks = [(name, d) for name, d in sorted(st['disk'].items()) if 'error' not in d]
    for metric, key, text in (('cslr_disk_total_bytes', 'total_bytes', 'Size of the filesystem a platform '
                               'directory is on.'),
                              ('cslr_disk_free_bytes', 'free_bytes', 'Bytes non-root users may still write on '
                               'the filesystem a platform directory is on.')):
        family(metric, 'gauge', text, [((('name', n), ('path', d['path'])), d[key]) for n, d in disks])
    family('cslr_disk_used_ratio', 'gauge', 'Used share of the filesystem a platform directory is on, as df '
           'shows it (0 to 1).',
           [((('name', n), ('path', d['path'])), round(d['used_percent'] / 100.0, 4)) for n, d in disks])
    return ''.join(families)


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    server_version = 'cslr-health/1'
    protocol_version = 'HTTP/1.1'

    def _send(self, code, body, ctype):
        data = body.encode('utf-8')
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Cache-Control', 'no-store')
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def _json(self, code, obj):
        self._send(code, json.dumps(obj, sort_keys=True) + '\n', 'application/json')

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == '/healthz':
            self._send(200, 'ok\n', 'text/plain; charset=utf-8')
        elif path in ('/', '/metrics'):
            try:
                st = status(self.server.cfg)
                if path == '/':
                    self._json(200, st)
                else:
                    self._send(200, metrics(st), 'text/plain; version=0.0.4; charset=utf-8')
            except Exception as exc:  # a bug here must not kill the thread silently
                log('error answering %s: %s: %s' % (path, type(exc).__name__, exc))
                self._json(500, {'error': '%s: %s' % (type(exc).__name__, exc)})
        else:
            self._json(404, {'error': 'not found: %s' % path})

    do_HEAD = do_GET

    def _not_allowed(self):
        # Read a request body first (up to 1 MiB): a client still sending would get a broken pipe
        # instead of the 405.
        try:
            length = int(self.headers.get('Content-Length') or 0)
        except ValueError:
            length = 0
        if 0 < length <= 1 << 20:
            self.rfile.read(length)
        self._json(405, {'error': 'method not allowed'})

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed

    def log_message(self, fmt, *args):
        if self.server.cfg.access_log:
            log('%s %s' % (self.address_string(), fmt % args))

    def log_error(self, fmt, *args):
        log('%s %s' % (self.address_string(), fmt % args))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, cfg):
        family = socket.AF_INET6 if ':' in cfg.bind else socket.AF_INET
        self.address_family = family
        self.cfg = cfg
        ThreadingHTTPServer.__init__(self, (cfg.bind, cfg.port), Handler)


def main(argv=None):
    try:
        cfg = Config()
    except ValueError as exc:
        log('bad configuration: %s' % exc)
        return 2
    try:
        server = Server(cfg)
    except OSError as exc:
        log('cannot listen on %s:%s: %s' % (cfg.bind, cfg.port, exc.strerror or exc))
        return 1

    def stop(signum, _frame):
        log('signal %d: stopping' % signum)
        # shutdown() waits for serve_forever() to return: call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log('listening on %s:%d (host %s, docker %s, prefix %r)'
        % (cfg.bind, server.server_address[1], cfg.host, cfg.docker_socket, cfg.project_prefix))
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
    log('stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
