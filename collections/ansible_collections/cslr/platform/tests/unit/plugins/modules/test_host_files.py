# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for cslr.platform.host_files: real paths under a temporary directory, the module run in-process (as
the owner running the tests): first run, settled rerun, changes, if_missing, check and diff mode, errors."""

from __future__ import annotations

import grp
import os
import pwd

import pytest

from ansible_collections.cslr.platform.plugins.modules import host_files
from ansible_collections.cslr.platform.tests.unit.plugins.modules.utils import file_mode, run_module

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(entries, check=False, diff=False):
    return run_module(host_files.main, dict(entries=[dict({'owner': OWNER, 'group': GROUP}, **e) for e in entries],
                                            _ansible_check_mode=check, _ansible_diff=diff))


mode = file_mode


@pytest.fixture()
def entries(tmp_path):
    return [{'path': str(tmp_path / 'etc' / 'cslr'), 'state': 'directory', 'mode': '0755'},
            {'path': str(tmp_path / 'etc' / 'cslr' / 'training.env'), 'content': 'A=1\n'},
            {'path': str(tmp_path / 'cslr-train'), 'content': '#!/bin/sh\n', 'mode': '0755'}]


def test_first_run_creates_everything_then_a_rerun_changes_nothing(entries, tmp_path):
    result = run(entries)
    assert result['changed'] and result['entries_changed'] == [True, True, True]
    assert result['changed_paths'] == [e['path'] for e in entries]
    assert (mode(tmp_path / 'etc'), mode(tmp_path / 'etc' / 'cslr')) == ('0755', '0755')
    assert (tmp_path / 'etc' / 'cslr' / 'training.env').read_text() == 'A=1\n'
    assert mode(tmp_path / 'etc' / 'cslr' / 'training.env') == '0644'
    assert mode(tmp_path / 'cslr-train') == '0755'
    again = run(entries)
    assert not again['changed'] and again['entries_changed'] == [False, False, False]


def test_only_what_differs_is_written_and_reported(entries, tmp_path):
    run(entries)
    os.chmod(str(tmp_path / 'cslr-train'), 0o700)
    entries[1]['content'] = 'A=2\n'
    result = run(entries, diff=True)
    assert result['entries_changed'] == [False, True, True]
    assert (tmp_path / 'etc' / 'cslr' / 'training.env').read_text() == 'A=2\n'
    assert mode(tmp_path / 'cslr-train') == '0755'
    assert result['diff'] == [{'before_header': entries[1]['path'], 'after_header': entries[1]['path'],
                               'before': 'A=1\n', 'after': 'A=2\n'}]


def test_check_mode_reports_and_changes_nothing(entries, tmp_path):
    result = run(entries, check=True)
    assert result['entries_changed'] == [True, True, True]
    assert not (tmp_path / 'etc').exists() and not (tmp_path / 'cslr-train').exists()
    run(entries)
    entries[2]['content'] = 'changed\n'
    assert run(entries, check=True)['entries_changed'] == [False, False, True]
    assert (tmp_path / 'cslr-train').read_text() == '#!/bin/sh\n'


def test_if_missing_leaves_an_existing_directory_as_it_is(tmp_path):
    data = tmp_path / 'data'
    data.mkdir(mode=0o700)
    os.chmod(str(data), 0o700)
    entry = {'path': str(data), 'state': 'directory', 'mode': '0755', 'if_missing': True}
    assert run([entry])['entries_changed'] == [False]
    assert mode(data) == '0700'
    assert run([dict(entry, if_missing=False)])['entries_changed'] == [True]
    assert mode(data) == '0755'
    fresh = dict(entry, path=str(tmp_path / 'new'))
    assert run([fresh])['entries_changed'] == [True] and mode(tmp_path / 'new') == '0755'


@pytest.mark.parametrize('entry, message', [
    ({'path': 'relative/file', 'content': 'x'}, 'is not an absolute path'),
    ({'path': '/tmp', 'content': 'x'}, 'is a directory'),
    ({'path': '/nonexistent-cslr/dir/file', 'content': 'x'}, 'its directory does not exist'),
    ({'path': '/tmp/cslr-no-content'}, 'has no content'),
])
def test_bad_entries_fail_clearly(entry, message):
    result = run([entry])
    assert result['failed'] and message in result['msg']


def test_a_link_in_place_of_a_file_or_of_a_directory_not_followed_is_refused(tmp_path):
    target = tmp_path / 'target'
    target.mkdir()
    os.chmod(str(target), 0o700)
    (tmp_path / 'probe').symlink_to(target)
    (tmp_path / 'file').symlink_to(tmp_path / 'elsewhere')
    result = run([{'path': str(tmp_path / 'probe'), 'state': 'directory', 'mode': '0555', 'follow': False}])
    assert result['failed'] and 'is a link' in result['msg']
    result = run([{'path': str(tmp_path / 'file'), 'content': 'x'}])
    assert result['failed'] and 'is a link' in result['msg']
    assert mode(target) == '0700' and not (tmp_path / 'elsewhere').exists()
    # followed by default, as ansible.builtin.file does (a checkpoint directory linked to another disk)
    assert run([{'path': str(tmp_path / 'probe'), 'state': 'directory', 'mode': '0750'}])['entries_changed'] == [True]
    assert mode(target) == '0750'


def test_if_missing_writes_a_file_once_and_never_replaces_it(tmp_path):
    token = tmp_path / 'auth_token'
    entry = {'path': str(token), 'content': 'first', 'mode': '0600', 'if_missing': True}
    assert run([entry])['entries_changed'] == [True]
    os.chmod(str(token), 0o640)
    assert run([dict(entry, content='second')])['entries_changed'] == [False]
    assert token.read_text() == 'first' and mode(token) == '0640'


def test_without_a_mode_a_file_gets_0644_and_a_directory_0755(tmp_path):
    run([{'path': str(tmp_path / 'd'), 'state': 'directory'}, {'path': str(tmp_path / 'd' / 'f'), 'content': 'x'}])
    assert (mode(tmp_path / 'd'), mode(tmp_path / 'd' / 'f')) == ('0755', '0644')
