#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_rendezvous
short_description: List or remove stale PyTorch elastic rendezvous state in etcd (v2 API)
version_added: 0.1.0
description:
  - Finds the rendezvous state that C(torchrun) leaves in etcd with the C(etcd) and C(etcd-v2) rendezvous backends, and
    removes the state of the runs asked for, so that a new C(torchrun) with the same C(--rdzv-id) starts a fresh
    rendezvous instead of joining, or waiting on, the one a killed job left behind.
  - Both torch backends keep their state in the etcd B(v2) keyspace (through the C(python-etcd) client). The v3 API, and
    so a plain C(etcdctl get/del --prefix), does not see these keys at all. This module talks to the v2 HTTP API
    (C(/v2/keys)) directly and needs no Python package on the host.
  - C(etcd) backend - everything of a run is in the directory C(<etcd_prefix>/run_<run_id>), removed in one recursive
    delete.
  - C(etcd-v2) backend - the state is the key C(/torch/elastic/rendezvous/<run_id>); the run's store keys are in the
    directory C(/torch/elastic/store) that all runs share, named by the base64 of
    C(torch.rendezvous.<run_id>.<round>/<key>). They are found by listing the directory and decoding every name, and
    only the keys of the runs asked for are deleted (never those of a run whose id merely starts with the same
    characters, C(job10) when C(job1) is removed). The store keys have no TTL, so without this cleanup they stay forever.
  - A store name that is not valid base64 of such a string is not torch rendezvous state and is never touched.
author:
  - cslr.platform maintainers (@cslr-platform)
options:
  endpoint:
    description:
      - The etcd client URL, as C(http://HOST:PORT) or C(https://HOST:PORT). C(HOST:PORT) alone (the form of torchrun's
        C(--rdzv-endpoint)) means C(http://HOST:PORT).
    type: str
    default: http://127.0.0.1:2379
  run_ids:
    description:
      - The rendezvous ids (torchrun's C(--rdzv-id), C(TORCHELASTIC_RUN_ID)) whose state is listed or removed, in both
        backends.
      - Ids not found are listed in RV(missing); that is not an error.
      - Mutually exclusive with O(all_runs). With O(state=query) and neither given, every run is listed.
    type: list
    elements: str
    default: []
  all_runs:
    description:
      - Every torch rendezvous run found, of both backends.
    type: bool
    default: false
  state:
    description:
      - V(absent) removes the state of the runs selected by O(run_ids) or O(all_runs) (exactly one of them is required).
      - V(query) only lists the runs and their keys; nothing is changed.
    type: str
    choices: [absent, query]
    default: absent
  etcd_prefix:
    description:
      - The directory of the C(etcd) backend's runs, torchrun's rdzv-conf C(etcd_prefix). Not used by C(etcd-v2), whose
        paths are fixed.
    type: str
    default: /torchelastic/p2p
  timeout:
    description: Seconds to wait for each etcd request.
    type: int
    default: 10
notes:
  - The etcd server must serve the v2 API - etcd 3.5 started with C(--enable-v2) (C(ETCD_ENABLE_V2=true)), as torch's etcd
    backends require anyway. etcd 3.6 and later removed the v2 API; with them the module fails and says so.
  - The state of a run is removed whether or not a job still uses it; remove only the state of runs that are stopped.
  - A key that disappears between the listing and its deletion (its TTL expired, torch removed it) is not an error.
  - Only key paths are returned, never the values (which hold the members' addresses and ports).
seealso:
  - name: torchrun (Elastic Launch)
    description: The C(etcd) and C(etcd-v2) rendezvous backends and their options.
    link: https://docs.pytorch.org/docs/stable/elastic/rendezvous.html
  - name: etcd v2 API
    description: The HTTP API this module uses.
    link: https://etcd.io/docs/v2.3/api/
attributes:
  check_mode:
    support: full
    details: Lists the runs and reports the keys that would be removed, and removes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: List every torch rendezvous run in etcd
  cslr.platform.etcd_rendezvous:
    endpoint: http://10.0.0.11:2379
    state: query
  register: rdzv

- name: Remove the rendezvous state a killed job left behind
  cslr.platform.etcd_rendezvous:
    endpoint: http://10.0.0.11:2379
    run_ids: [job1]

- name: Remove every torch rendezvous run (no job may be running)
  cslr.platform.etcd_rendezvous:
    endpoint: http://10.0.0.11:2379
    all_runs: true

- name: Runs started with --rdzv-conf etcd_prefix=/lab/rdzv
  cslr.platform.etcd_rendezvous:
    endpoint: 10.0.0.11:2379
    etcd_prefix: /lab/rdzv
    run_ids: [sweep-42]
"""

RETURN = r"""
runs:
  description:
    - The runs found (before any removal), sorted by run id and backend; only those asked for when O(run_ids) is given.
    - A run that has state in both backends is listed once per backend.
  returned: always
  type: list
  elements: dict
  contains:
    run_id:
      description: The rendezvous id.
      type: str
      sample: job1
    backend:
      description: The torch rendezvous backend that wrote the state.
      type: str
      sample: etcd-v2
    key_paths:
      description:
        - The paths of the run's keys, sorted. For C(etcd-v2) the state key and the run's store keys; for C(etcd) the
          keys in the run's directory (the directory itself when it is empty).
      type: list
      elements: str
      sample:
        - /torch/elastic/rendezvous/job1
        - /torch/elastic/store/dG9yY2gucmVuZGV6dm91cy5qb2IxLjAvTUFTVEVSX0FERFI=
  sample:
    - run_id: job1
      backend: etcd
      key_paths: [/torchelastic/p2p/run_job1/rdzv/active_version, /torchelastic/p2p/run_job1/rdzv/version_counter]
removed:
  description:
    - The paths deleted (or that would be in check mode), in the order of deletion. An C(etcd) run is one path, its
      directory (deleted recursively); an C(etcd-v2) run is its state key and its store keys, and any store
      subdirectory left empty by them (a base64 name holding C(/) makes one).
    - Always empty with O(state=query).
  returned: always
  type: list
  elements: str
  sample: [/torchelastic/p2p/run_job1, /torch/elastic/rendezvous/job1]
missing:
  description: The ids of O(run_ids) that have no state in either backend.
  returned: always
  type: list
  elements: str
  sample: [job7]
"""

import base64
import binascii
import http.client
import json
import re
import socket
import urllib.error
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.urls import open_url

V2_STATE_DIR = '/torch/elastic/rendezvous'  # etcd_rendezvous_backend.create_backend's key_prefix
V2_STORE_DIR = '/torch/elastic/store'       # ...and its EtcdStore prefix
STORE_PREFIX = 'torch.rendezvous.'           # DynamicRendezvousHandler._wrap_store: PrefixStore(f"{...}.{run_id}.{round}")
_STORE_NAME = re.compile(r'^torch\.rendezvous\.(.+?)\.[0-9]+/')
_ROUND = re.compile(r'^[0-9]+/')
KEY_NOT_FOUND = 100  # etcd v2 errorCode
DIR_NOT_EMPTY = 108
STATUS_HINT = 'check the rendezvous stack (ansible-playbook playbooks/status.yml)'


class EtcdError(Exception):
    """An answer of etcd that is not the one wanted: HTTP status, v2 errorCode (None if the body is not v2 JSON)."""

    def __init__(self, msg, status=None, error_code=None):
        super().__init__(msg)
        self.status = status
        self.error_code = error_code


class Unreachable(Exception):
    """No HTTP answer at all: refused, timed out, name not resolved."""


def normalize_endpoint(endpoint):
    endpoint = endpoint.strip().rstrip('/')
    if '://' not in endpoint:
        endpoint = 'http://' + endpoint
    return endpoint


def shown(endpoint):
    """The endpoint for messages: a user:password@ in it is masked."""
    return re.sub(r'^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@', r'\1********@', endpoint)


def dir_path(prefix):
    """etcd_prefix as etcd spells the directory ('' for the root): torch adds the trailing /, python-etcd the leading one."""
    prefix = prefix.strip('/')
    return '/' + prefix if prefix else ''


def bad_run_id(run_id):
    """Why torch could not have written run_id as (part of) an etcd key path, or None."""
    if not run_id:
        return 'it is empty'
    if any(part in ('', '.', '..') for part in run_id.split('/')):
        return 'it has an empty, "." or ".." path segment'
    return None


class EtcdV2(object):
    """The few calls of the etcd v2 keys API the module needs, over ansible's open_url."""

    def __init__(self, endpoint, timeout):
        self.endpoint = endpoint
        self.timeout = timeout

    def url(self, path, query=None):
        return '%s/v2/keys%s%s' % (self.endpoint, quote(path, safe='/'), '?' + query if query else '')

    def request(self, method, path, query=None):
        """-> the v2 JSON answer; EtcdError for an HTTP error, Unreachable for no answer."""
        try:
            resp = open_url(self.url(path, query), method=method, timeout=self.timeout, follow_redirects='none')
            body = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read()
            except Exception:  # pylint: disable=broad-except
                body = b''
            raise self.http_error(method, path, exc.code, body) from None
        except urllib.error.URLError as exc:
            raise Unreachable(to_native(exc.reason)) from None
        except (socket.timeout, OSError, http.client.HTTPException) as exc:
            raise Unreachable(to_native(exc) or type(exc).__name__) from None
        try:
            return json.loads(to_text(body))
        except ValueError:
            raise EtcdError('%s %s: the answer is not etcd v2 JSON' % (method, path)) from None

    @staticmethod
    def http_error(method, path, status, body):
        try:
            answer = json.loads(to_text(body))
            code, message = answer['errorCode'], answer.get('message', '')
        except (ValueError, KeyError, TypeError):
            code, message = None, to_text(body, errors='surrogate_or_replace').strip()[:200]
        return EtcdError('%s %s: HTTP %d%s%s' % (method, path, status, ' errorCode %s' % code if code is not None else '',
                                                 ', ' + message if message else ''), status, code)

    def tree(self, path):
        """The node at path with everything below it, or None when there is no such key."""
        try:
            return self.request('GET', path or '/', 'recursive=true')['node']
        except EtcdError as exc:
            if exc.error_code == KEY_NOT_FOUND:
                return None
            raise

    def delete(self, path, how):
        """how: 'key', 'dir' (only when empty) or 'recursive'. -> False when the key was already gone."""
        query = {'key': None, 'dir': 'dir=true', 'recursive': 'recursive=true'}[how]
        try:
            self.request('DELETE', path, query)
        except EtcdError as exc:
            if exc.error_code == KEY_NOT_FOUND:
                return False
            raise
        return True

    def version(self):
        try:
            resp = open_url(self.endpoint + '/version', timeout=self.timeout, follow_redirects='none')
            return json.loads(to_text(resp.read())).get('etcdserver')
        except Exception:  # pylint: disable=broad-except
            return None


def walk(node):
    """Every node of a v2 tree, the node itself first."""
    if node is None:
        return
    yield node
    for child in node.get('nodes') or []:
        yield from walk(child)


def leaves(node):
    return [n['key'] for n in walk(node) if not n.get('dir')]


def decode_store_name(name):
    """A store key's name (its path below the store dir) -> the string torch stored, or None when it is not base64 text."""
    try:
        return base64.b64decode(name, validate=True).decode('utf-8')
    except (binascii.Error, ValueError):
        return None


def store_run_id(text, known):
    """The run id of a decoded store name `torch.rendezvous.<run_id>.<round>/<key>`, or None.

    The known ids (asked for, or with a state key) are tried first, the longest that fits winning; else the shortest id
    that fits (a run id may hold dots). `job1` never takes a key of `job10`: the id must be followed by `.<round>/`."""
    if not text.startswith(STORE_PREFIX):
        return None
    rest = text[len(STORE_PREFIX):]
    fits = [run_id for run_id in known if rest.startswith(run_id + '.') and _ROUND.match(rest[len(run_id) + 1:])]
    if fits:
        return max(fits, key=len)
    m = _STORE_NAME.match(text)
    return m.group(1) if m else None


def find_runs(etcd_tree, state_tree, store_tree, prefix, run_ids):
    """The runs in the three listed trees -> {(run_id, backend): {'keys': [...], 'delete': [(path, how)]}}.

    run_ids: the ids asked for ([] for every run)."""
    runs = {}
    base = dir_path(prefix)
    # etcd backend: <prefix>/run_<id>, a directory (with a TTL) that torch creates for the run.
    nodes = dict((n['key'], n) for n in walk(etcd_tree) if 'key' in n)
    if run_ids:
        wanted = [(run_id, base + '/run_' + run_id) for run_id in run_ids]
    else:
        wanted = [(child['key'][len(base) + len('/run_'):], child['key'])
                  for child in (etcd_tree or {}).get('nodes') or []
                  if child.get('dir') and child['key'].startswith(base + '/run_') and len(child['key']) > len(base) + 5]
    for run_id, path in wanted:
        node = nodes.get(path)
        if node is not None and node.get('dir'):
            runs[(run_id, 'etcd')] = {'keys': leaves(node) or [path], 'delete': [(path, 'recursive')]}

    # etcd-v2 backend: the state key /torch/elastic/rendezvous/<id> and base64-named keys in the shared store dir.
    states = dict((key[len(V2_STATE_DIR) + 1:], key) for key in leaves(state_tree) if key.startswith(V2_STATE_DIR + '/'))
    known = list(run_ids) or list(states)
    v2 = {}
    for run_id in known:
        if run_id in states:
            v2.setdefault(run_id, []).append(states[run_id])
    for key in leaves(store_tree):
        if not key.startswith(V2_STORE_DIR + '/'):
            continue
        text = decode_store_name(key[len(V2_STORE_DIR) + 1:])
        run_id = store_run_id(text, known) if text else None
        if run_id is not None and (not run_ids or run_id in run_ids):
            v2.setdefault(run_id, []).append(key)
    for run_id, keys in v2.items():
        keys = keys[:1] + sorted(keys[1:]) if keys[0] == states.get(run_id) else sorted(keys)  # the state key first
        runs[(run_id, 'etcd-v2')] = {'keys': keys, 'delete': [(key, 'key') for key in keys]}
    return runs


def emptied_dirs(store_tree, removing):
    """Store subdirectories (a '/' in a base64 name makes one) that hold nothing but keys being removed, deepest first."""
    out = []

    def empties(node):
        if not node.get('dir'):
            return node['key'] in removing
        results = [empties(child) for child in node.get('nodes') or []]  # every child visited: nested dirs count
        gone = bool(results) and all(results)
        if gone and node['key'] != V2_STORE_DIR:
            out.append(node['key'])
        return gone

    if store_tree is not None:
        empties(store_tree)
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoint=dict(type='str', default='http://127.0.0.1:2379'),
            run_ids=dict(type='list', elements='str', default=[]),
            all_runs=dict(type='bool', default=False),
            state=dict(type='str', choices=['absent', 'query'], default='absent'),
            etcd_prefix=dict(type='str', default='/torchelastic/p2p'),
            timeout=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    run_ids = list(dict.fromkeys(params['run_ids']))  # without repeats, in the order given
    if run_ids and params['all_runs']:
        module.fail_json(msg='run_ids and all_runs are mutually exclusive: give the runs to remove, or all_runs=true '
                             'for every run, not both')
    if params['state'] == 'absent' and not run_ids and not params['all_runs']:
        module.fail_json(msg='state=absent needs the runs to remove: run_ids (a non-empty list) or all_runs=true '
                             '(every torch rendezvous run in etcd); state=query lists them')
    for run_id in run_ids:
        why = bad_run_id(run_id)
        if why:
            module.fail_json(msg='run id %r cannot be a torch rendezvous id in etcd: %s' % (run_id, why))
    if params['timeout'] <= 0:
        module.fail_json(msg='timeout must be a positive number of seconds, not %d' % params['timeout'])

    endpoint = normalize_endpoint(params['endpoint'])
    etcd = EtcdV2(endpoint, params['timeout'])
    result = dict(runs=[], removed=[], missing=[])

    def unreachable(exc):
        module.fail_json(msg='Cannot reach etcd at %s (%s): %s.' % (shown(endpoint), exc, STATUS_HINT), **result)

    try:
        etcd.request('GET', '/')
    except Unreachable as exc:
        unreachable(exc)
    except EtcdError as exc:
        if exc.status == 404:
            version = etcd.version()
            module.fail_json(msg='etcd at %s%s does not serve the v2 API (GET /v2/keys/ answered 404): it was started '
                                 'without --enable-v2 (ETCD_ENABLE_V2=true), or it is etcd 3.6 or later, which removed '
                                 'the v2 API. torch\'s etcd and etcd-v2 rendezvous backends keep their state in the v2 '
                                 'keyspace and need etcd 3.5 with ETCD_ENABLE_V2=true, so no torch rendezvous can have '
                                 'used this etcd.' % (shown(endpoint), ' (etcd %s)' % version if version else ''), **result)
        module.fail_json(msg='etcd at %s: %s' % (shown(endpoint), exc), **result)

    try:
        store_tree = etcd.tree(V2_STORE_DIR)
        found = find_runs(etcd.tree(dir_path(params['etcd_prefix'])), etcd.tree(V2_STATE_DIR), store_tree,
                          params['etcd_prefix'], run_ids)
    except Unreachable as exc:
        unreachable(exc)
    except EtcdError as exc:
        module.fail_json(msg='etcd at %s: %s' % (shown(endpoint), exc), **result)

    result['runs'] = [dict(run_id=run_id, backend=backend, key_paths=sorted(found[(run_id, backend)]['keys']))
                      for run_id, backend in sorted(found)]
    found_ids = set(run_id for run_id, _backend in found)
    result['missing'] = [run_id for run_id in run_ids if run_id not in found_ids]
    if params['state'] == 'query':
        module.exit_json(changed=False, **result)

    plan = []
    for key in sorted(found):
        plan.extend(found[key]['delete'])
    removing = set(path for path, how in plan if how == 'key')
    plan.extend((path, 'dir') for path in emptied_dirs(store_tree, removing))
    if module.check_mode:
        result['removed'] = [path for path, _how in plan]
        module.exit_json(changed=bool(plan), **result)

    for path, how in plan:
        try:
            if etcd.delete(path, how):
                result['removed'].append(path)
        except Unreachable as exc:
            unreachable(exc)
        except EtcdError as exc:
            if how == 'dir' and exc.error_code == DIR_NOT_EMPTY:
                continue  # a key was written into it since the listing: it stays
            module.fail_json(msg='etcd at %s: %s' % (shown(endpoint), exc), **result)
    module.exit_json(changed=bool(result['removed']), **result)


if __name__ == '__main__':
    main()
