# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for cslr.platform.etcd_rendezvous: the module against a fake etcd v2 server (http.server on 127.0.0.1)
holding the keys torchrun 2.13 leaves with the `etcd` and `etcd-v2` rendezvous backends."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from ansible.module_utils import basic

from ansible_collections.cslr.platform.plugins.modules import etcd_rendezvous
from ansible_collections.cslr.platform.tests.unit.plugins.modules.utils import (
    AnsibleExitJson, AnsibleFailJson, exit_json, fail_json, patch_module_args)


def store_key(run_id, key, rnd=0):
    """The etcd-v2 store key torch writes: base64 of torch.rendezvous.<run_id>.<round>/<key> in /torch/elastic/store."""
    text = 'torch.rendezvous.%s.%d/%s' % (run_id, rnd, key)
    return '/torch/elastic/store/' + base64.b64encode(text.encode('utf-8')).decode()


def etcd_run(run_id, prefix='/torchelastic/p2p'):
    base = '%s/run_%s/rdzv' % (prefix, run_id)
    return {base + '/version_counter': '1', base + '/active_version': '{"status": "final"}',
            base + '/v_1/kv/TUFTVEVSX0FERFI=': 'MTAuMC4wLjEx', base + '/v_1/kv/TUFTVEVSX1BPUlQ=': 'MzMzODU='}


def v2_run(run_id, rounds=(0,)):
    keys = {'/torch/elastic/rendezvous/' + run_id: 'c2VjcmV0LXN0YXRl'}
    for rnd in rounds:
        for key in ('MASTER_ADDR', 'MASTER_PORT', 'torchelastic/role_info/0'):
            keys[store_key(run_id, key, rnd)] = 'dmFsdWU='
    return keys


# job1 and job10 in both backends (job10 is the run whose id job1 is a prefix of), job1 at its 2nd round in etcd-v2.
KEYS = {}
KEYS.update(etcd_run('job1'))
KEYS.update(etcd_run('job10'))
KEYS.update(v2_run('job1', rounds=(0, 1)))
KEYS.update(v2_run('job10'))
KEYS.update({
    '/other/app/config': 'not torch',
    '/torch/elastic/store/bm90LXRvcmNo': 'not torch either',  # base64 of "not-torch"
    '/torch/elastic/store/!!not-base64!!': 'x',
})
EMPTY_DIRS = ['/torchelastic/p2p/run_job10/rdzv/v_2']


class FakeEtcd(object):
    """The etcd v2 keys API over a flat {path: value} dict: recursive GET, DELETE of keys, empty dirs (dir=true) and
    trees (recursive=true), the v2 error codes; mode 'no_v2' answers like etcd 3.6 (404, text), 'hang' never answers."""

    def __init__(self, keys=None, dirs=()):
        self.keys = dict(KEYS if keys is None else keys)
        self.dirs = set(dirs)  # empty directories
        self.mode = 'v2'
        self.version = '3.5.16'
        self.vanish = set()  # keys that expire just before their DELETE arrives
        self.requests = []
        self.lock = threading.Lock()

    def all_dirs(self):
        out = set(['/'])
        for path in list(self.keys) + list(self.dirs):
            parts = path.strip('/').split('/')
            for i in range(1, len(parts) + (1 if path in self.dirs else 0)):
                out.add('/' + '/'.join(parts[:i]))
        return out

    def node(self, path, dirs):
        if path in self.keys:
            return {'key': path, 'value': self.keys[path], 'modifiedIndex': 7, 'createdIndex': 7}
        below = path.rstrip('/') + '/'
        names = set(p[len(below):].split('/')[0] for p in list(self.keys) + list(dirs)
                    if p.startswith(below) and len(p) > len(below))
        node = {'dir': True, 'nodes': [self.node(below + name, dirs) for name in sorted(names)],
                'modifiedIndex': 5, 'createdIndex': 5}
        if path != '/':
            node['key'] = path
        if not node['nodes']:
            del node['nodes']
        return node

    def handle(self, method, raw_path):
        url = urlsplit(raw_path)
        query = parse_qs(url.query)
        self.requests.append((method, url.path, url.query))
        if self.mode == 'hang':
            time.sleep(3)
        if url.path == '/version':
            return 200, {'etcdserver': self.version, 'etcdcluster': self.version[:3] + '.0'}
        if self.mode == 'no_v2' or not url.path.startswith('/v2/keys'):
            return 404, '404 page not found\n'
        path = '/' + unquote(url.path[len('/v2/keys'):]).strip('/')
        with self.lock:
            dirs = self.all_dirs()
            if path in self.vanish and self.keys.pop(path, None) is not None:
                self.dirs.add(path.rsplit('/', 1)[0])
            if path not in self.keys and path not in dirs:
                return 404, {'errorCode': 100, 'message': 'Key not found', 'cause': path, 'index': 7}
            if method == 'GET':
                return 200, {'action': 'get', 'node': self.node(path, dirs)}
            if path in self.keys:
                del self.keys[path]
                self.dirs.add(path.rsplit('/', 1)[0])  # etcd keeps the directories a key was in
                return 200, {'action': 'delete', 'node': {'key': path}}
            below = path + '/'
            inside = [p for p in list(self.keys) + list(self.dirs) if p.startswith(below)]
            if query.get('recursive') == ['true'] or (query.get('dir') == ['true'] and not inside):
                for p in inside:
                    self.keys.pop(p, None)
                    self.dirs.discard(p)
                self.dirs.discard(path)
                return 200, {'action': 'delete', 'node': {'key': path, 'dir': True}}
            if query.get('dir') == ['true']:
                return 403, {'errorCode': 108, 'message': 'Directory not empty', 'cause': path, 'index': 7}
            return 403, {'errorCode': 102, 'message': 'Not a file', 'cause': path, 'index': 7}

    def deletes(self):
        return [r for r in self.requests if r[0] == 'DELETE']


@pytest.fixture
def etcd():
    fake = FakeEtcd(dirs=EMPTY_DIRS)

    class Handler(BaseHTTPRequestHandler):
        def answer(self, method):
            status, body = fake.handle(method, self.path)
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            try:
                self.send_response(status)
                self.send_header('Content-Type', 'text/plain' if isinstance(body, str) else 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (timeout test)

        def do_GET(self):  # noqa: N802 (http.server's name)
            self.answer('GET')

        def do_DELETE(self):  # noqa: N802
            self.answer('DELETE')

        def log_message(self, *args):  # pylint: disable=arguments-differ
            pass

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    fake.endpoint = 'http://127.0.0.1:%d' % server.server_address[1]
    yield fake
    server.shutdown()
    server.server_close()


def run_module(args, check=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args), \
            pytest.MonkeyPatch.context() as patch:
        patch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
        patch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            etcd_rendezvous.main()
    return exc.value.args[0]


def keys_of(result, run_id, backend):
    return [r['key_paths'] for r in result['runs'] if (r['run_id'], r['backend']) == (run_id, backend)][0]


def test_query_lists_both_backends_runs_and_changes_nothing(etcd):
    res = run_module({'endpoint': etcd.endpoint, 'state': 'query'})
    assert res['changed'] is False and res['removed'] == [] and res['missing'] == []
    assert [(r['run_id'], r['backend']) for r in res['runs']] == [
        ('job1', 'etcd'), ('job1', 'etcd-v2'), ('job10', 'etcd'), ('job10', 'etcd-v2')]
    assert keys_of(res, 'job1', 'etcd') == sorted(etcd_run('job1'))
    assert keys_of(res, 'job1', 'etcd-v2') == sorted(v2_run('job1', rounds=(0, 1)))
    assert keys_of(res, 'job10', 'etcd-v2') == sorted(v2_run('job10'))
    assert etcd.deletes() == []
    # Paths only: no value of a key is ever in the result.
    assert 'c2VjcmV0LXN0YXRl' not in json.dumps(res) and 'MTAuMC4wLjEx' not in json.dumps(res)


def test_query_of_named_runs(etcd):
    res = run_module({'endpoint': etcd.endpoint, 'state': 'query', 'run_ids': ['job10', 'job7']})
    assert [(r['run_id'], r['backend']) for r in res['runs']] == [('job10', 'etcd'), ('job10', 'etcd-v2')]
    assert res['missing'] == ['job7'] and res['changed'] is False


def test_absent_removes_exactly_job1_and_not_job10(etcd):
    before = dict(etcd.keys)
    res = run_module({'endpoint': etcd.endpoint, 'run_ids': ['job1']})
    assert res['changed'] is True and res['missing'] == []
    job1_v2 = v2_run('job1', rounds=(0, 1))
    assert res['removed'][0] == '/torchelastic/p2p/run_job1'  # the etcd backend's run dir, in one recursive delete
    assert sorted(res['removed'][1:]) == sorted(job1_v2)
    assert ('DELETE', '/v2/keys/torchelastic/p2p/run_job1', 'recursive=true') in etcd.requests
    gone = set(before) - set(etcd.keys)
    assert gone == set(etcd_run('job1')) | set(job1_v2)
    for key in list(etcd_run('job10')) + list(v2_run('job10')) + ['/other/app/config', '/torch/elastic/store/bm90LXRvcmNo']:
        assert key in etcd.keys
    assert '/torchelastic/p2p/run_job10/rdzv/v_2' in etcd.dirs


def test_second_run_is_unchanged(etcd):
    assert run_module({'endpoint': etcd.endpoint, 'run_ids': ['job1']})['changed'] is True
    deletes = len(etcd.deletes())
    res = run_module({'endpoint': etcd.endpoint, 'run_ids': ['job1']})
    assert res['changed'] is False and res['removed'] == [] and res['runs'] == [] and res['missing'] == ['job1']
    assert len(etcd.deletes()) == deletes


def test_all_runs_removes_every_run_and_nothing_else(etcd):
    res = run_module({'endpoint': etcd.endpoint, 'all_runs': True})
    assert res['changed'] is True and len(res['runs']) == 4
    assert set(etcd.keys) == {'/other/app/config', '/torch/elastic/store/bm90LXRvcmNo',
                              '/torch/elastic/store/!!not-base64!!'}
    assert run_module({'endpoint': etcd.endpoint, 'all_runs': True})['changed'] is False


def test_check_mode_reports_and_removes_nothing(etcd):
    before = dict(etcd.keys)
    res = run_module({'endpoint': etcd.endpoint, 'run_ids': ['job1']}, check=True)
    assert res['changed'] is True
    assert res['removed'][0] == '/torchelastic/p2p/run_job1'
    assert sorted(res['removed'][1:]) == sorted(v2_run('job1', rounds=(0, 1)))
    assert etcd.keys == before and etcd.deletes() == []
    # ...and the real run removes what check mode announced.
    assert run_module({'endpoint': etcd.endpoint, 'run_ids': ['job1']})['removed'] == res['removed']


def test_missing_run_ids_are_not_an_error(etcd):
    res = run_module({'endpoint': etcd.endpoint, 'run_ids': ['job7', 'job']})
    assert res['changed'] is False and res['missing'] == ['job7', 'job'] and res['runs'] == []
    assert etcd.deletes() == []


def test_store_keys_without_state_key_still_found(etcd):
    """The state key has a 2 h TTL, the store keys none: a run whose state expired still leaves its store keys."""
    del etcd.keys['/torch/elastic/rendezvous/job10']
    res = run_module({'endpoint': etcd.endpoint, 'state': 'query'})
    assert keys_of(res, 'job10', 'etcd-v2') == sorted(store_key('job10', k) for k in (
        'MASTER_ADDR', 'MASTER_PORT', 'torchelastic/role_info/0'))
    run_module({'endpoint': etcd.endpoint, 'run_ids': ['job10']})
    assert not set(v2_run('job10')) & set(etcd.keys) and set(v2_run('job1', rounds=(0, 1))) <= set(etcd.keys)


def test_nested_store_names_and_plus_are_handled(etcd):
    """A base64 name holding '/' makes etcd create a directory ('ab¿1' and 'ab¿10' share one); '+' must be sent
    escaped. The shared directory stays while the other run still has a key in it."""
    etcd.keys.clear()
    etcd.keys.update(v2_run('ab¿1'))
    etcd.keys.update(v2_run('ab¿10'))
    etcd.keys.update(v2_run('abþ'))
    shared = store_key('ab¿1', 'MASTER_ADDR').rsplit('/', 1)[0]
    assert shared != '/torch/elastic/store' and store_key('ab¿10', 'MASTER_ADDR').startswith(shared + '/')
    assert '+' in store_key('abþ', 'MASTER_ADDR')
    res = run_module({'endpoint': etcd.endpoint, 'run_ids': ['ab¿1', 'abþ']})
    assert set(res['removed']) == set(v2_run('ab¿1')) | set(v2_run('abþ'))
    assert set(etcd.keys) == set(v2_run('ab¿10'))
    # The last run of the shared directory takes it along.
    res = run_module({'endpoint': etcd.endpoint, 'run_ids': ['ab¿10']})
    assert res['removed'][-1] == shared and shared not in etcd.all_dirs() and etcd.keys == {}


def test_key_vanishing_before_its_delete_is_not_an_error(etcd):
    etcd.vanish = {'/torch/elastic/rendezvous/job1'}
    res = run_module({'endpoint': etcd.endpoint, 'run_ids': ['job1']})
    assert 'failed' not in res and res['changed'] is True
    assert '/torch/elastic/rendezvous/job1' not in res['removed'] and len(res['removed']) == 1 + 6


def test_etcd_prefix_option(etcd):
    etcd.keys.update(etcd_run('sweep', prefix='/lab/rdzv'))
    res = run_module({'endpoint': etcd.endpoint.replace('http://', ''), 'etcd_prefix': 'lab/rdzv/', 'run_ids': ['sweep']})
    assert res['removed'] == ['/lab/rdzv/run_sweep'] and not any(k.startswith('/lab/') for k in etcd.keys)


def test_v2_api_disabled_is_explained(etcd):
    etcd.mode, etcd.version = 'no_v2', '3.6.5'
    res = run_module({'endpoint': etcd.endpoint, 'state': 'query'})
    assert res['failed'] and etcd.endpoint in res['msg'] and '(etcd 3.6.5)' in res['msg']
    assert 'v2 API' in res['msg'] and 'ETCD_ENABLE_V2=true' in res['msg'] and '3.6' in res['msg']


def test_connection_refused_names_endpoint_and_status_playbook():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    res = run_module({'endpoint': 'http://127.0.0.1:%d' % port, 'run_ids': ['job1']})
    assert res['failed'] and 'http://127.0.0.1:%d' % port in res['msg']
    assert 'refused' in res['msg'].lower() and 'playbooks/status.yml' in res['msg']
    # A password in the URL is not repeated.
    res = run_module({'endpoint': 'http://root:s3cret@127.0.0.1:%d' % port, 'state': 'query'})
    assert res['failed'] and 's3cret' not in res['msg'] and 'http://********@127.0.0.1:%d' % port in res['msg']


def test_timeout_is_unreachable(etcd):
    etcd.mode = 'hang'
    res = run_module({'endpoint': etcd.endpoint, 'state': 'query', 'timeout': 1})
    assert res['failed'] and 'timed out' in res['msg'] and 'playbooks/status.yml' in res['msg']


@pytest.mark.parametrize('args, words', [
    ({'run_ids': ['job1'], 'all_runs': True}, 'mutually exclusive'),
    ({}, 'state=absent needs'),
    ({'run_ids': []}, 'state=absent needs'),
    ({'run_ids': ['a/../b']}, 'path segment'),
    ({'run_ids': ['']}, 'empty'),
])
def test_arguments_checked_before_contacting_etcd(etcd, args, words):
    res = run_module(dict(args, endpoint=etcd.endpoint))
    assert res['failed'] and words in res['msg'] and etcd.requests == []


def test_store_run_id_never_confuses_prefixes():
    assert etcd_rendezvous.store_run_id('torch.rendezvous.job10.0/MASTER_ADDR', ['job1']) == 'job10'
    assert etcd_rendezvous.store_run_id('torch.rendezvous.job1.5.0/K', ['job1']) == 'job1.5'
    assert etcd_rendezvous.store_run_id('torch.rendezvous.job1.5.0/K', ['job1', 'job1.5']) == 'job1.5'
    assert etcd_rendezvous.store_run_id('torch.rendezvous.job1.12/a.3/b', []) == 'job1'
    assert etcd_rendezvous.store_run_id('something.else', ['job1']) is None
