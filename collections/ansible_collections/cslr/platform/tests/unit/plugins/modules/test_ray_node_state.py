# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for cslr.platform.ray_node_state: real state files under a temporary directory, a stand-in `docker`
command on PATH that answers as `docker container inspect` does (running, exited, no such container, an
engine that does not answer), and a host without docker."""

from __future__ import annotations

import os

import pytest

from ansible_collections.cslr.platform.plugins.module_utils import _election
from ansible_collections.cslr.platform.plugins.modules import ray_node_state
from ansible_collections.cslr.platform.tests.unit.plugins.modules.utils import run_module

ANSWERS = {
    'running': ('{"Status":"running","Running":true}', '', 0),
    'exited': ('{"Status":"exited","Running":false}', '', 0),
    'missing': ('', 'Error response from daemon: No such container: cslr-platform-ray', 1),
    'down': ('', 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.', 1),
}


@pytest.fixture()
def docker(tmp_path, monkeypatch):
    """Put a `docker` on PATH that answers as the container in the state given."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    monkeypatch.setenv('PATH', str(bin_dir))

    def answer(state):
        out, err, rc = ANSWERS[state]
        script = bin_dir / 'docker'
        script.write_text('#!/bin/sh\n[ "$1 $2 $3 $4" = "container inspect --format {{json .State}}" ] || exit 99\n'
                          "printf '%%s' '%s'\nprintf '%%s' '%s' >&2\nexit %d\n" % (out, err, rc))
        os.chmod(str(script), 0o755)
    return answer


def run(state_dir, check=False):
    return run_module(ray_node_state.main, dict(container='cslr-platform-ray', state_dir=str(state_dir),
                                                _ansible_check_mode=check))


def test_a_running_node_and_its_decision(docker, tmp_path):
    docker('running')
    _election.write_state(str(tmp_path), role='worker', gcs_address='10.0.0.1:6379')
    (tmp_path / _election.STATE_ELECTED_HEAD).write_text('node-1\n')
    result = run(tmp_path, check=True)
    assert not result['changed'] and 'failed' not in result
    assert (result['running'], result['container_state']) == (True, 'running')
    assert (result['role'], result['gcs_address'], result['elected_head'], result['candidates']) == \
        ('worker', '10.0.0.1:6379', 'node-1', '')


@pytest.mark.parametrize('state,expected', [('exited', 'exited'), ('missing', '')])
def test_a_stopped_or_missing_container_is_not_running(docker, tmp_path, state, expected):
    docker(state)
    result = run(tmp_path)
    assert (result['running'], result['container_state']) == (False, expected)
    assert result['role'] == '' and result['gcs_address'] == ''


def test_an_engine_that_does_not_answer_fails_with_dockers_words(docker, tmp_path):
    docker('down')
    result = run(tmp_path)
    assert result['failed'] and 'Cannot connect to the Docker daemon' in result['msg']
    assert 'cslr-platform-ray' in result['msg']


def test_a_host_without_docker_has_no_running_node(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    result = run(tmp_path / 'absent')
    assert (result['running'], result['role']) == (False, '')


def test_the_state_files_round_trip(tmp_path):
    _election.write_state(str(tmp_path), role='head', gcs_address='10.0.0.1:6379')
    assert oct(os.stat(str(tmp_path / 'role')).st_mode & 0o777) == '0o644'
    assert _election.read_state(str(tmp_path), _election.STATE_ROLE) == 'head'
    _election.write_state(str(tmp_path), role=None)
    assert _election.read_state(str(tmp_path), _election.STATE_ROLE) is None
    with pytest.raises(ValueError):
        _election.write_state(str(tmp_path), other='x')
