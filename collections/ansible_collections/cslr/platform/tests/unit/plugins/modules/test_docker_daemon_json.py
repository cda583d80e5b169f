# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for cslr.platform.docker_daemon_json: a real file under a temporary directory, the module run
in-process: the merge keeps others' keys, writes what to_nice_json(indent=2) writes, a settled rerun
changes nothing, check and diff mode, a refused validation, a file that is not JSON."""

from __future__ import annotations

import json
import os
from unittest import mock

import pytest

from ansible.plugins.filter.core import to_nice_json

from ansible_collections.cslr.platform.plugins.modules import docker_daemon_json
from ansible_collections.cslr.platform.tests.unit.plugins.modules.utils import file_mode, run_module

MANAGED = {'log-driver': 'json-file', 'log-opts': {'max-size': '100m', 'max-file': '3'}, 'live-restore': True,
           'default-address-pools': [{'base': '172.24.0.0/14', 'size': 24}]}
NVIDIA = {'runtimes': {'nvidia': {'path': 'nvidia-container-runtime', 'args': []}}}


def run(path, settings, check=False, diff=False, validate='test -s %s'):
    # root:root is what the module sets; as another user the owner calls are no-ops here.
    with mock.patch.object(docker_daemon_json.AnsibleModule, 'set_owner_if_different', lambda s, p, o, c: c), \
            mock.patch.object(docker_daemon_json.AnsibleModule, 'set_group_if_different', lambda s, p, g, c: c):
        return run_module(docker_daemon_json.main, dict(path=str(path), settings=settings, validate=validate,
                                                        _ansible_check_mode=check, _ansible_diff=diff))


@pytest.fixture()
def daemon_json(tmp_path):
    path = tmp_path / 'docker' / 'daemon.json'
    path.parent.mkdir()
    path.write_text('{"registry-mirrors": ["https://mirror.example"], "log-opts": {"labels": "team"}}')
    return path


def test_merge_keeps_others_keys_and_writes_what_to_nice_json_writes(daemon_json):
    result = run(daemon_json, [MANAGED, NVIDIA, {'log-opts': {'max-size': '50m'}}])
    assert result['changed']
    wanted = {'registry-mirrors': ['https://mirror.example'], 'log-driver': 'json-file', 'live-restore': True,
              'log-opts': {'labels': 'team', 'max-size': '50m', 'max-file': '3'},
              'default-address-pools': MANAGED['default-address-pools'], 'runtimes': NVIDIA['runtimes']}
    assert result['content'] == wanted
    assert daemon_json.read_text() == to_nice_json(wanted, indent=2) + '\n'
    assert file_mode(daemon_json) == '0644'
    again = run(daemon_json, [MANAGED, NVIDIA, {'log-opts': {'max-size': '50m'}}])
    assert not again['changed']


def test_a_missing_file_and_directory_are_created(tmp_path):
    path = tmp_path / 'etc' / 'docker' / 'daemon.json'
    assert run(path, [MANAGED])['changed']
    assert json.loads(path.read_text()) == MANAGED
    assert file_mode(path.parent) == '0755'


def test_check_mode_reports_and_diff_shows_the_change(daemon_json):
    before = daemon_json.read_text()
    result = run(daemon_json, [MANAGED], check=True, diff=True)
    assert result['changed'] and daemon_json.read_text() == before
    assert result['diff']['before'] == before and '"live-restore": true' in result['diff']['after']


def test_a_mode_that_differs_is_a_change(daemon_json):
    run(daemon_json, [MANAGED])
    os.chmod(str(daemon_json), 0o600)
    assert run(daemon_json, [MANAGED])['changed']
    assert file_mode(daemon_json) == '0644'


def test_a_refused_validation_leaves_the_file_as_it_was(daemon_json):
    before = daemon_json.read_text()
    result = run(daemon_json, [MANAGED], validate='false %s')
    assert result['failed'] and 'failed to validate daemon.json' in result['msg']
    assert daemon_json.read_text() == before
    assert os.listdir(str(daemon_json.parent)) == ['daemon.json']


@pytest.mark.parametrize('text,words', [('{"log-driver": ', 'is not valid JSON'), ('["a"]', 'holds a JSON list')])
def test_a_file_that_is_not_a_json_object_is_refused_and_kept(daemon_json, text, words):
    daemon_json.write_text(text)
    result = run(daemon_json, [MANAGED])
    assert result['failed'] and words in result['msg'] and 'Nothing was changed' in result['msg']
    assert daemon_json.read_text() == text


def test_a_link_is_read_through_and_replaced_by_a_file_when_the_content_changes(tmp_path):
    target = tmp_path / 'managed.json'
    target.write_text('{"registry-mirrors": ["https://mirror.example"]}')
    path = tmp_path / 'daemon.json'
    path.symlink_to(target)
    result = run(path, [MANAGED])
    assert result['changed'] and not path.is_symlink()
    assert json.loads(path.read_text()) == dict(MANAGED, **{'registry-mirrors': ['https://mirror.example']})
    assert target.read_text() == '{"registry-mirrors": ["https://mirror.example"]}'
