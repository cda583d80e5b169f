# -*- coding: utf-8 -*-
"""Tests of the health service program (roles/health/files/cslr_health.py).

A fake Docker Engine (an HTTP server on a unix socket in tmp_path, serving canned JSON)
stands in for /var/run/docker.sock; the service itself runs as a real subprocess for the
end-to-end cases (port, SIGTERM), and in-process for the rest.
"""

import http.client
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

import pytest

import role_files

PROGRAM = role_files.path('cslr_health')
health = role_files.load('cslr_health')

CONTAINERS = [
    {'Id': 'a' * 64, 'Names': ['/cslr-ray-ray-1'], 'State': 'running', 'Status': 'Up 5 minutes (healthy)',
     'Labels': {'com.docker.compose.project': 'cslr-ray', 'com.docker.compose.service': 'ray'}},
    {'Id': 'b' * 64, 'Names': ['/cslr-mlflow-postgres-1'], 'State': 'running',
     'Status': 'Up 2 seconds (health: starting)',
     'Labels': {'com.docker.compose.project': 'cslr-mlflow', 'com.docker.compose.service': 'postgres'}},
    {'Id': 'c' * 64, 'Names': ['/cslr-mlflow-mlflow-1'], 'State': 'exited', 'Status': 'Exited (1) 3 minutes ago',
     'Labels': {'com.docker.compose.project': 'cslr-mlflow', 'com.docker.compose.service': 'mlflow'}},
    {'Id': 'd' * 64, 'Names': ['/other-web-1'], 'State': 'running', 'Status': 'Up 1 hour',
     'Labels': {'com.docker.compose.project': 'other', 'com.docker.compose.service': 'web'}},
    {'Id': 'e' * 64, 'Names': ['/cslr-redis-redis-1'], 'State': 'running', 'Status': 'Up 1 hour',
     'Health': {'Status': 'unhealthy', 'FailingStreak': 3},
     'Labels': {'com.docker.compose.project': 'cslr-redis', 'com.docker.compose.service': 'redis'}},
]


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FakeDocker(object):
    """A Docker Engine API on a unix socket: GET /containers/json answers `self.answer`."""

    def __init__(self, path):
        self.path = path
        self.answer = (200, json.dumps(CONTAINERS))
        self.delay = 0
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append(self.path)
                if fake.delay:
                    time.sleep(fake.delay)
                code, body = fake.answer
                data = body.encode('utf-8')
                self.send_response(code)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def address_string(self):
                return 'unix'

            def log_message(self, *args):
                pass

        self.server = _UnixServer(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def docker_sock(tmp_path):
    # AF_UNIX paths are limited to ~107 bytes: keep the socket name short.
    fake = FakeDocker(str(tmp_path / 'd.sock'))
    yield fake
    fake.close()


@pytest.fixture
def etc_dir(tmp_path):
    d = tmp_path / 'etc'
    d.mkdir()
    return d


def make_cfg(docker_path, etc_dir, **env):
    base = {
        'CSLR_HOST': 'lab-1',
        'CSLR_CLUSTER_ADDRESS': '10.0.0.11',
        'CSLR_DOCKER_SOCKET': docker_path,
        'CSLR_ETC_DIR': str(etc_dir),
        'CSLR_DOCKER_TIMEOUT': '1',
    }
    base.update(env)
    return health.Config(base)


# ---------------------------------------------------------------- pure logic

@pytest.mark.parametrize('summary, expected', [
    ({'Status': 'Up 5 minutes (healthy)'}, 'healthy'),
    ({'Status': 'Up 5 minutes (unhealthy)'}, 'unhealthy'),
    ({'Status': 'Up 1 second (health: starting)'}, 'starting'),
    ({'Status': 'Up 5 minutes'}, 'none'),
    ({'Status': 'Exited (0) 2 hours ago'}, 'none'),
    ({}, 'none'),
    ({'Status': 'Up 5 minutes', 'Health': {'Status': 'healthy'}}, 'healthy'),
    ({'Status': 'Up 5 minutes', 'Health': {'Status': 'none'}}, 'none'),
])
def test_container_health(summary, expected):
    assert health.container_health(summary) == expected


def test_stacks_grouped_by_project_and_filtered_by_prefix():
    stacks = health.stacks_from_containers(CONTAINERS, 'cslr')
    assert sorted(stacks) == ['cslr-mlflow', 'cslr-ray', 'cslr-redis']
    assert stacks['cslr-mlflow'] == [
        {'container': 'cslr-mlflow-mlflow-1', 'service': 'mlflow', 'state': 'exited', 'health': 'none'},
        {'container': 'cslr-mlflow-postgres-1', 'service': 'postgres', 'state': 'running', 'health': 'starting'},
    ]
    assert stacks['cslr-ray'] == [
        {'container': 'cslr-ray-ray-1', 'service': 'ray', 'state': 'running', 'health': 'healthy'}]
    assert stacks['cslr-redis'][0]['health'] == 'unhealthy'


@pytest.mark.parametrize('prefix, projects', [
    ('cslr-ml', ['cslr-mlflow']),
    ('other', ['other']),
    ('', ['cslr-mlflow', 'cslr-ray', 'cslr-redis', 'other']),
    ('nothing', []),
])
def test_prefix(prefix, projects):
    assert sorted(health.stacks_from_containers(CONTAINERS, prefix)) == projects


def test_container_without_names_uses_short_id():
    stacks = health.stacks_from_containers(
        [{'Id': 'f' * 64, 'State': 'created', 'Labels': {'com.docker.compose.project': 'cslr-x'}}], 'cslr')
    assert stacks == {'cslr-x': [{'container': 'f' * 12, 'service': None, 'state': 'created', 'health': 'none'}]}


@pytest.mark.parametrize('files, env, role, version, gpus', [
    ({}, {}, 'none', None, 0),
    ({'ray_role': 'head\n'}, {}, 'head', None, 0),
    ({'ray_role': 'WORKER'}, {'CSLR_RAY_ROLE': 'head'}, 'worker', None, 0),  # the file wins
    ({}, {'CSLR_RAY_ROLE': 'worker'}, 'worker', None, 0),
    ({'ray_role': 'boss'}, {}, 'none', None, 0),
    ({'ray_version': '2.60.0\n'}, {}, 'none', '2.60.0', 0),
    ({'ray_version': '2.59.0'}, {'CSLR_RAY_VERSION': '2.60.0'}, 'none', '2.60.0', 0),  # env wins
    ({'gpu_count': '4\n'}, {'CSLR_GPU_COUNT': '2'}, 'none', None, 4),  # the file wins
    ({}, {'CSLR_GPU_COUNT': '2'}, 'none', None, 2),
    ({'gpu_count': 'many'}, {}, 'none', None, 0),
    ({'gpu_count': '-1'}, {}, 'none', None, 0),
])
def test_host_facts(tmp_path, etc_dir, files, env, role, version, gpus):
    for name, text in files.items():
        (etc_dir / name).write_text(text)
    cfg = make_cfg(str(tmp_path / 'none.sock'), etc_dir, **env)
    assert health.ray_role(cfg) == role
    assert health.ray_version(cfg) == version
    assert health.gpu_count(cfg) == gpus


RAY_RUNNING = {'cslr-ray': [{'container': 'cslr-ray', 'service': 'ray', 'state': 'running', 'health': 'healthy'}]}
RAY_EXITED = {'cslr-ray': [{'container': 'cslr-ray', 'service': 'ray', 'state': 'exited', 'health': 'none'}]}


@pytest.mark.parametrize('live, etc, stacks, role', [
    ('worker\n', 'head', RAY_RUNNING, 'worker'),      # the entrypoint's live decision wins (failover)
    (None, 'head', RAY_RUNNING, 'head'),               # no live file yet: Ansible's record
    ('bogus', 'worker', RAY_RUNNING, 'worker'),
    ('head', 'head', RAY_EXITED, 'none'),              # container stopped: not part of the cluster
    ('head', 'head', {}, 'none'),                      # no Ray stack on this host
    ('worker', 'head', None, 'head'),                  # Docker unavailable: Ansible's record
])
def test_ray_role_follows_the_running_container(tmp_path, etc_dir, live, etc, stacks, role):
    state = tmp_path / 'state'
    state.mkdir()
    if live is not None:
        (state / 'role').write_text(live)
    (etc_dir / 'ray_role').write_text(etc)
    cfg = make_cfg(str(tmp_path / 'none.sock'), etc_dir, CSLR_RAY_STATE_DIR=str(state))
    assert health.ray_role(cfg, stacks) == role


def test_config_defaults():
    cfg = health.Config({})
    assert cfg.port == 8888
    assert cfg.bind == '0.0.0.0'
    assert cfg.host == socket.gethostname()
    assert cfg.cluster_address is None
    assert cfg.project_prefix == 'cslr'
    assert cfg.docker_socket == '/var/run/docker.sock'
    assert cfg.etc_dir == '/etc/cslr'
    assert cfg.ray_state_dir == '/var/lib/cslr/ray'


# ---------------------------------------------------------------- Docker API

def test_status_reads_the_docker_api(docker_sock, etc_dir):
    (etc_dir / 'ray_role').write_text('head\n')
    (etc_dir / 'gpu_count').write_text('2\n')
    cfg = make_cfg(docker_sock.path, etc_dir, CSLR_RAY_VERSION='2.60.0')
    st = health.status(cfg)
    assert st['docker'] == 'ok'
    assert st['host'] == 'lab-1'
    assert st['cluster_address'] == '10.0.0.11'
    assert st['ray_role'] == 'head'
    assert st['ray_version'] == '2.60.0'
    assert st['gpu_count'] == 2
    assert sorted(st['stacks']) == ['cslr-mlflow', 'cslr-ray', 'cslr-redis']
    assert st['time'].endswith('+00:00')
    # One call, all containers (stopped ones too), filtered on the compose label.
    assert len(docker_sock.requests) == 1
    url = urllib.parse.urlsplit(docker_sock.requests[0])
    assert url.path == '/containers/json'
    query = urllib.parse.parse_qs(url.query)
    assert query['all'] == ['1']
    assert json.loads(query['filters'][0]) == {'label': ['com.docker.compose.project']}


@pytest.mark.parametrize('answer, reason', [
    ((500, '{"message": "boom"}'), 'answered 500'),
    ((404, '{"message": "page not found"}'), 'answered 404'),
    ((200, 'not json'), 'invalid JSON'),
    ((200, '{"a": 1}'), 'not a list'),
])
def test_docker_errors_are_reported_not_raised(docker_sock, etc_dir, answer, reason):
    docker_sock.answer = answer
    st = health.status(make_cfg(docker_sock.path, etc_dir))
    assert st['docker'].startswith('unavailable: ')
    assert reason in st['docker']
    assert st['stacks'] == {}
    assert st['host'] == 'lab-1'


def test_missing_socket(tmp_path, etc_dir):
    st = health.status(make_cfg(str(tmp_path / 'missing.sock'), etc_dir))
    assert st['docker'].startswith('unavailable: ')
    assert 'missing.sock' in st['docker']
    assert st['stacks'] == {}


def test_socket_that_is_not_docker(tmp_path, etc_dir):
    # Something listening that closes the connection at once.
    path = str(tmp_path / 'x.sock')
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(5)

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    try:
        st = health.status(make_cfg(path, etc_dir))
    finally:
        srv.close()
    assert st['docker'].startswith('unavailable: ')


def test_docker_timeout(docker_sock, etc_dir):
    docker_sock.delay = 2
    start = time.monotonic()
    st = health.status(make_cfg(docker_sock.path, etc_dir, CSLR_DOCKER_TIMEOUT='0.3'))
    assert time.monotonic() - start < 1.5
    assert st['docker'].startswith('unavailable: ')


# ---------------------------------------------------------------- HTTP (in process)

@pytest.fixture
def server(docker_sock, etc_dir):
    cfg = make_cfg(docker_sock.path, etc_dir, CSLR_HEALTH_BIND='127.0.0.1', CSLR_HEALTH_PORT='0')
    srv = health.Server(cfg)
    t = threading.Thread(target=srv.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(port, path, method='GET'):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.getheader('Content-Type'), resp.read().decode('utf-8')
    finally:
        conn.close()


def test_http_root(server, docker_sock):
    code, ctype, body = get(server.server_address[1], '/')
    assert code == 200
    assert ctype == 'application/json'
    data = json.loads(body)
    assert set(data) == {'host', 'cluster_address', 'ray_role', 'ray_version', 'gpu_count', 'stacks', 'docker',
                         'disk', 'time'}
    assert data['docker'] == 'ok'
    assert data['stacks']['cslr-ray'][0]['state'] == 'running'


def test_http_root_with_docker_down(server, docker_sock):
    docker_sock.close()
    os.unlink(docker_sock.path)
    code, _, body = get(server.server_address[1], '/')
    assert code == 200
    data = json.loads(body)
    assert data['docker'].startswith('unavailable: ')
    assert data['stacks'] == {}


def test_http_healthz_does_not_call_docker(server, docker_sock):
    code, ctype, body = get(server.server_address[1], '/healthz')
    assert (code, body) == (200, 'ok\n')
    assert ctype.startswith('text/plain')
    assert docker_sock.requests == []


def test_http_head_and_unknown(server):
    port = server.server_address[1]
    assert get(port, '/healthz', 'HEAD')[::2] == (200, '')
    assert get(port, '/nope')[0] == 404
    assert get(port, '/', 'POST')[0] == 405
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    conn.request('POST', '/', body=b'x' * (512 * 1024))  # read before the answer: no broken pipe
    assert conn.getresponse().status == 405
    conn.close()


def test_http_concurrent_requests(server, docker_sock):
    docker_sock.delay = 0.5
    port = server.server_address[1]
    results = []

    def one():
        results.append(get(port, '/')[0])
    threads = [threading.Thread(target=one) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Threaded: four slow answers take about one delay, not four.
    assert results == [200] * 4
    assert time.monotonic() - start < 1.8


# ---------------------------------------------------------------- the program

def _free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait_http(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError('the service exited: %s' % proc.communicate()[1])
        try:
            return get(port, '/healthz')
        except OSError:
            time.sleep(0.05)
    raise AssertionError('the service did not answer in %ss' % timeout)


def test_program_serves_and_stops_on_sigterm(docker_sock, etc_dir):
    port = _free_port()
    env = dict(os.environ, CSLR_HEALTH_PORT=str(port), CSLR_HEALTH_BIND='127.0.0.1', CSLR_HOST='lab-2',
               CSLR_DOCKER_SOCKET=docker_sock.path, CSLR_ETC_DIR=str(etc_dir), CSLR_PROJECT_PREFIX='cslr-ml')
    proc = subprocess.Popen([sys.executable, PROGRAM], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    try:
        assert _wait_http(port, proc)[0] == 200
        code, _, body = get(port, '/')
        data = json.loads(body)
        assert code == 200
        assert data['host'] == 'lab-2'
        assert sorted(data['stacks']) == ['cslr-mlflow']
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    out, err = proc.communicate()
    assert rc == 0, err
    assert 'stopping' in err
    # Quiet: no access log lines by default.
    assert 'GET /' not in err


def test_program_port_in_use_fails_clearly():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        env = dict(os.environ, CSLR_HEALTH_PORT=str(port), CSLR_HEALTH_BIND='127.0.0.1')
        proc = subprocess.run([sys.executable, PROGRAM], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=10)
    finally:
        s.close()
    assert proc.returncode == 1
    assert 'cannot listen on 127.0.0.1:%d' % port in proc.stderr


# ---------------------------------------------------------------- disk and /metrics (issue 22)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+)$')


def parse_metrics(text):
    """{(name, labels-text): value}, checking every line is a HELP, a TYPE or a sample of the text format."""
    samples = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith('# HELP '):
            continue
        if line.startswith('# TYPE '):
            name, kind = line.split()[2:4]
            assert kind == 'gauge' and name not in typed, line
            typed.add(name)
            continue
        m = SAMPLE.match(line)
        assert m, 'not a sample line: %r' % line
        assert m.group(1) in typed, 'sample before its TYPE: %r' % line
        samples[(m.group(1), m.group(2) or '')] = float(m.group(3))
    return samples


@pytest.mark.parametrize('value, expected', [
    ('', []),
    ('data=/var/lib/cslr-platform', [('data', '/var/lib/cslr-platform')]),
    (' data=/a , ray_logs=/b/c ,', [('data', '/a'), ('ray_logs', '/b/c')]),
])
def test_disk_paths_parsed(value, expected):
    assert health.parse_disk_paths(value) == expected


@pytest.mark.parametrize('value, message', [
    ('data', 'not name=/absolute/path'),
    ('data=relative', 'not name=/absolute/path'),
    ('Data=/a', 'not name=/absolute/path'),
    ('a=/x,a=/y', 'named twice'),
])
def test_bad_disk_paths_are_a_configuration_error(value, message):
    with pytest.raises(ValueError, match=message):
        health.Config({'CSLR_DISK_PATHS': value})


def test_disk_usage_of_each_directory_as_df_shows_it(tmp_path, etc_dir, docker_sock):
    root = tmp_path / 'disk'
    (root / 'data').mkdir(parents=True)   # read at <root>/<name>
    cfg = make_cfg(docker_sock.path, etc_dir, CSLR_DISK_ROOT=str(root),
                   CSLR_DISK_PATHS='data=/var/lib/cslr-platform,gone=/srv/missing')
    disk = health.status(cfg)['disk']
    st = os.statvfs(str(root))
    data = disk['data']
    assert data['path'] == '/var/lib/cslr-platform'
    assert data['total_bytes'] == st.f_blocks * st.f_frsize
    # Free space moves while the tests run: near the statvfs taken here.
    assert abs(data['free_bytes'] - st.f_bavail * st.f_frsize) < 1 << 30
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    assert abs(data['used_percent'] - 100.0 * used / (used + st.f_bavail * st.f_frsize)) < 1
    # df agrees (its Use% rounds up).
    df = subprocess.run(['df', '-P', str(root)], stdout=subprocess.PIPE, universal_newlines=True, check=True)
    assert abs(int(df.stdout.splitlines()[1].split()[4].rstrip('%')) - data['used_percent']) <= 1
    assert disk['gone'] == {'path': '/srv/missing', 'error': 'No such file or directory'}


def test_metrics_in_prometheus_text_format(docker_sock, etc_dir, tmp_path):
    (etc_dir / 'ray_role').write_text('head\n')
    (etc_dir / 'gpu_count').write_text('2\n')
    cfg = make_cfg(docker_sock.path, etc_dir, CSLR_RAY_VERSION='2.60.0', CSLR_DISK_PATHS='data=%s' % tmp_path)
    st = health.status(cfg)
    m = parse_metrics(health.metrics(st))
    assert m[('cslr_docker_up', '')] == 1
    assert m[('cslr_container_running', '{project="cslr-ray",service="ray",container="cslr-ray-ray-1"}')] == 1
    assert m[('cslr_container_running',
              '{project="cslr-mlflow",service="mlflow",container="cslr-mlflow-mlflow-1"}')] == 0
    healthy = {k[1]: v for k, v in m.items() if k[0] == 'cslr_container_healthy'}
    # Only containers with a health check; starting and unhealthy are 0.
    assert healthy == {'{project="cslr-mlflow",service="postgres",container="cslr-mlflow-postgres-1"}': 0,
                       '{project="cslr-ray",service="ray",container="cslr-ray-ray-1"}': 1,
                       '{project="cslr-redis",service="redis",container="cslr-redis-redis-1"}': 0}
    assert not any('other-web' in k[1] for k in m)
    assert {k[1]: v for k, v in m.items() if k[0] == 'cslr_ray_role'} == {
        '{role="head"}': 1, '{role="worker"}': 0, '{role="none"}': 0}
    assert m[('cslr_ray_version_info', '{version="2.60.0"}')] == 1
    assert m[('cslr_gpu_count', '')] == 2
    labels = '{name="data",path="%s"}' % tmp_path
    assert m[('cslr_disk_total_bytes', labels)] == st['disk']['data']['total_bytes']
    assert m[('cslr_disk_free_bytes', labels)] == st['disk']['data']['free_bytes']
    assert 0 < m[('cslr_disk_used_ratio', labels)] < 1


def test_metrics_with_docker_down_and_odd_labels(etc_dir, tmp_path):
    st = health.status(make_cfg(str(tmp_path / 'missing.sock'), etc_dir,
                                CSLR_DISK_PATHS='gone=/srv/missing'))
    text = health.metrics(st)
    m = parse_metrics(text)
    assert m[('cslr_docker_up', '')] == 0
    assert not any(k[0].startswith('cslr_container_') for k in m)
    assert not any(k[0].startswith('cslr_disk_') for k in m)   # an unreadable directory: no sample
    assert ('cslr_ray_version_info', '{version="x"}') not in m
    st['stacks'] = {'cslr-x': [{'container': 'a"b\\c\nd', 'service': None, 'state': 'running', 'health': 'none'}]}
    m = parse_metrics(health.metrics(st))
    assert m[('cslr_container_running', '{project="cslr-x",service="",container="a\\"b\\\\c\\nd"}')] == 1


def test_http_metrics(server, docker_sock):
    code, ctype, body = get(server.server_address[1], '/metrics')
    assert code == 200
    assert ctype == 'text/plain; version=0.0.4; charset=utf-8'
    assert parse_metrics(body)[('cslr_docker_up', '')] == 1
    assert len(docker_sock.requests) == 1
