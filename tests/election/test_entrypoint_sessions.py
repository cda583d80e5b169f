# -*- coding: utf-8 -*-
"""Ray container entrypoint: old Ray session directories are pruned at start (issue 22).

Every container start makes a new `session_*` directory in the persisted temp directory
(cslr_ray_log_dir/tmp); the entrypoint removes the oldest beyond CSLR_RAY_SESSIONS_KEEP before
Ray starts, and touches nothing else. Real directories on disk, the entrypoint imported from a
directory holding only it and _election.py, as the Ray image uses them.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
COLLECTION = os.path.join(REPO, 'collections', 'ansible_collections', 'cslr', 'platform')
ENTRYPOINT = os.path.join(COLLECTION, 'roles', 'ray', 'files', 'cslr_ray_entrypoint.py')
ELECTION = os.path.join(COLLECTION, 'plugins', 'module_utils', '_election.py')


@pytest.fixture(scope='module')
def ep(tmp_path_factory):
    where = tmp_path_factory.mktemp('entrypoint')
    shutil.copy(ENTRYPOINT, str(where / 'cslr_ray_entrypoint.py'))
    shutil.copy(ELECTION, str(where / '_election.py'))
    sys.path.insert(0, str(where))
    try:
        for name in ('cslr_ray_entrypoint', '_election'):
            sys.modules.pop(name, None)
        yield importlib.import_module('cslr_ray_entrypoint')
    finally:
        sys.path.remove(str(where))
        for name in ('cslr_ray_entrypoint', '_election'):
            sys.modules.pop(name, None)


def session(n):
    """The name Ray gives the n-th session (they sort by time)."""
    return 'session_2026-12-%02d_10-00-%02d_%06d_%d' % (1 + n // 60, n % 60, 1000 + n, 40 + n)


def make_temp(tmp_path, count):
    temp = tmp_path / 'ray'
    for n in range(count):
        logs = temp / session(n) / 'logs'
        logs.mkdir(parents=True)
        (logs / 'raylet.out').write_text('log of session %d\n' % n)
    os.symlink(session(count - 1), str(temp / 'session_latest'))
    return temp


def test_keeps_the_newest_and_removes_the_rest(ep, tmp_path):
    temp = make_temp(tmp_path, 8)
    (temp / 'ray_current_cluster').write_text('10.0.0.1:6379\n')
    (temp / 'session_notes').mkdir()          # not a name Ray gives: never touched
    lines = []
    removed = ep.prune_sessions(str(temp), 3, logger=lines.append)
    assert removed == [session(n) for n in range(5)]
    assert sorted(os.listdir(str(temp))) == sorted(
        [session(n) for n in (5, 6, 7)] + ['session_latest', 'ray_current_cluster', 'session_notes'])
    assert os.readlink(str(temp / 'session_latest')) == session(7)
    assert len(lines) == 1 and 'removed 5 old Ray session(s)' in lines[0] and 'CSLR_RAY_SESSIONS_KEEP=3' in lines[0]
    # Run again: nothing more to do, nothing logged.
    assert ep.prune_sessions(str(temp), 3, logger=lines.append) == [] and len(lines) == 1


def test_zero_removes_every_earlier_session_and_none_keeps_all(ep, tmp_path):
    temp = make_temp(tmp_path, 4)
    assert ep.prune_sessions(str(temp), None, logger=lambda m: None) == []
    assert len([n for n in os.listdir(str(temp)) if n != 'session_latest']) == 4
    assert len(ep.prune_sessions(str(temp), 0, logger=lambda m: None)) == 4
    assert os.listdir(str(temp)) == ['session_latest']   # the dangling link is Ray's to replace


def test_a_session_given_as_a_link_is_not_followed(ep, tmp_path):
    temp = make_temp(tmp_path, 2)
    outside = tmp_path / 'precious'
    outside.mkdir()
    (outside / 'data').write_text('keep me')
    os.symlink(str(outside), str(temp / session(0).replace('_001000_', '_000999_')))   # sorts first
    removed = ep.prune_sessions(str(temp), 0, logger=lambda m: None)
    assert sorted(removed) == [session(0), session(1)]
    assert (outside / 'data').read_text() == 'keep me'


def test_no_temp_directory_yet_is_not_an_error(ep, tmp_path):
    lines = []
    assert ep.prune_sessions(str(tmp_path / 'missing'), 2, logger=lines.append) == [] and lines == []


def test_a_directory_that_cannot_be_removed_is_logged_and_ray_starts_anyway(ep, tmp_path, monkeypatch):
    temp = make_temp(tmp_path, 3)

    def rmtree(path, onerror=None, onexc=None):
        error = OSError(30, 'Read-only file system')
        if onexc:
            onexc(os.unlink, path + '/logs/raylet.out', error)
        else:
            onerror(os.unlink, path + '/logs/raylet.out', (OSError, error, None))
    monkeypatch.setattr(ep.shutil, 'rmtree', rmtree)
    lines = []
    assert ep.prune_sessions(str(temp), 1, logger=lines.append) == []
    assert len(lines) == 2 and all('could not remove all of the old Ray session' in m for m in lines), lines
    assert 'Read-only file system' in lines[0]


@pytest.mark.parametrize('value, expected', [('', None), (' ', None), ('0', 0), ('5', 5), (' 12 ', 12)])
def test_sessions_keep_reads_the_environment(ep, value, expected):
    assert ep.sessions_keep({'CSLR_RAY_SESSIONS_KEEP': value}) == expected


@pytest.mark.parametrize('value', ['-1', 'five', '2.5'])
def test_a_bad_count_is_a_configuration_error(ep, value, tmp_path, capsys):
    with pytest.raises(ep.ConfigError, match='CSLR_RAY_SESSIONS_KEEP must be a whole number'):
        ep.sessions_keep({'CSLR_RAY_SESSIONS_KEEP': value})
    # main() stops with 2 and starts nothing, as for every other configuration error.
    env = {'CSLR_NODE_ADDRESS': '10.0.0.1', 'CSLR_CANDIDATES': 'h1=10.0.0.1', 'CSLR_RAY_SESSIONS_KEEP': value,
           'CSLR_RAY_TEMP_DIR': str(tmp_path)}
    assert ep.main(env) == 2
    assert 'CSLR_RAY_SESSIONS_KEEP must be a whole number' in capsys.readouterr().err
