# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for cslr.platform.project_files: a real directory, the module run in-process (as the
owner running the tests), reruns, removals, validation, check and diff mode."""

from __future__ import annotations

import grp
import os
import pwd
from unittest import mock

import pytest

from ansible.module_utils import basic

from ansible_collections.cslr.platform.plugins.modules import project_files
from ansible_collections.cslr.platform.tests.unit.plugins.modules.utils import file_mode, run_module

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
HEADER = 'Managed by cslr.platform (secrets of the mlflow stack). Values are single-quoted: literal.'


def run(args, check=False, diff=False):
    return run_module(project_files.main, dict(args, _ansible_check_mode=check, _ansible_diff=diff))


mode = file_mode


@pytest.fixture()
def args(tmp_path):
    return dict(
        path=str(tmp_path / 'mlflow'), owner=OWNER, group=GROUP, env_header=HEADER,
        env_files={'postgres': {'POSTGRES_PASSWORD': 's3cret'}, 'mlflow': {'b': 'x', 'A': 2, 'a': 'y'}},
        files=[{'dest': 'auth.py', 'content': 'print(1)\n'},
               {'dest': 'compose.yaml', 'content': 'services: {}\n', 'mode': '0640',
                'validate': 'grep -q services %s'}])


def test_first_run_writes_everything_with_its_mode(args, tmp_path):
    result = run(args)
    project = tmp_path / 'mlflow'
    assert result['changed'] and result['env_changed']
    assert result['changed_files'] == ['mlflow.env', 'postgres.env', 'auth.py', 'compose.yaml']
    assert result['files_changed'] == [True, True]
    assert mode(project) == '0750'
    assert (project / 'postgres.env').read_text() == "# %s\nPOSTGRES_PASSWORD='s3cret'\n" % HEADER
    # Sorted as Jinja's dictsort (case-insensitive), values as {{ value }} renders them.
    assert (project / 'mlflow.env').read_text() == "# %s\nA='2'\na='y'\nb='x'\n" % HEADER
    assert mode(project / 'postgres.env') == '0600'
    assert mode(project / 'auth.py') == '0644'
    assert mode(project / 'compose.yaml') == '0640'
    assert sorted(os.listdir(str(project))) == ['auth.py', 'compose.yaml', 'mlflow.env', 'postgres.env']


def test_rerun_changes_nothing(args):
    run(args)
    result = run(args)
    assert result == {'changed': False, 'changed_files': [], 'files_changed': [False, False], 'env_changed': False}


def test_only_what_differs_is_written(args, tmp_path):
    run(args)
    os.chmod(str(tmp_path / 'mlflow' / 'auth.py'), 0o666)
    args['files'][1]['content'] = 'services: {a: {}}\n'
    result = run(args)
    assert result['changed'] and not result['env_changed']
    assert result['changed_files'] == ['auth.py', 'compose.yaml'] and result['files_changed'] == [True, True]
    assert mode(tmp_path / 'mlflow' / 'auth.py') == '0644'
    assert (tmp_path / 'mlflow' / 'compose.yaml').read_text() == 'services: {a: {}}\n'


def test_secrets_no_longer_configured_are_removed(args, tmp_path):
    run(args)
    args['env_files'] = {'postgres': {'POSTGRES_PASSWORD': 's3cret'}, 'mlflow': {}}
    result = run(args)
    assert result['changed_files'] == ['mlflow.env'] and result['env_changed']
    assert not (tmp_path / 'mlflow' / 'mlflow.env').exists()
    assert run(args)['changed'] is False  # gone stays gone


def test_invalid_content_leaves_the_old_file_and_no_temporary_file(args, tmp_path):
    run(args)
    args['files'][1]['content'] = 'nothing here\n'
    result = run(args)
    assert result['failed'] and result['msg'].startswith('failed to validate compose.yaml')
    assert (tmp_path / 'mlflow' / 'compose.yaml').read_text() == 'services: {}\n'
    assert sorted(os.listdir(str(tmp_path / 'mlflow'))) == ['auth.py', 'compose.yaml', 'mlflow.env', 'postgres.env']


def test_check_mode_reports_and_writes_nothing(args, tmp_path):
    result = run(args, check=True)
    assert result['changed'] and result['changed_files'] == ['mlflow.env', 'postgres.env', 'auth.py', 'compose.yaml']
    assert not (tmp_path / 'mlflow').exists()
    run(args)
    args['files'][0]['content'] = 'print(2)\n'
    assert run(args, check=True)['changed_files'] == ['auth.py']
    assert (tmp_path / 'mlflow' / 'auth.py').read_text() == 'print(1)\n'


def test_diff_shows_files_but_never_secrets(args):
    result = run(args, diff=True)
    text = repr(result['diff'])
    assert 'print(1)' in text and 'services: {}' in text
    assert 's3cret' not in text and 'content not shown' in text


@pytest.mark.parametrize('name', ['../x', 'a/b', '.', ''])
def test_a_name_outside_the_directory_is_refused(args, name, tmp_path):
    args['files'] = [{'dest': name, 'content': 'x'}]
    result = run(args)
    assert result['failed'] and 'plain file name' in result['msg']
    assert not (tmp_path / 'mlflow').exists()


def test_src_needs_the_action_plugin(args):
    args['files'] = [{'dest': 'a.py', 'src': '/etc/hostname'}]
    result = run(args)
    assert result['failed'] and 'action plugin' in result['msg']


def test_secrets_are_a_no_log_option():
    with mock.patch.object(project_files, 'AnsibleModule', side_effect=RuntimeError('stop')) as module:
        with pytest.raises(RuntimeError):
            project_files.main()
    assert module.call_args.kwargs['argument_spec']['env_files']['no_log'] is True


def test_only_the_compose_file_changed_is_told_by_a_boolean(args):
    run(args)
    args['files'][1]['content'] = 'services: {b: {}}\n'
    assert run(args)['files_changed'] == [False, True]


def test_missing_parents_get_the_directory_mode(args, tmp_path):
    args['path'] = str(tmp_path / 'base' / 'stack')
    args['mode'] = 0o750  # an unquoted YAML octal arrives as a number
    run(args)
    assert mode(tmp_path / 'base') == '0750' and mode(tmp_path / 'base' / 'stack') == '0750'
    assert run(args)['changed'] is False


def test_a_directory_where_a_file_goes_is_refused(args, tmp_path):
    (tmp_path / 'mlflow' / 'auth.py').mkdir(parents=True)
    result = run(args)
    assert result['failed'] and 'is a directory' in result['msg']


def test_a_file_where_the_directory_goes_is_refused(args, tmp_path):
    (tmp_path / 'mlflow').write_text('x')
    result = run(args)
    assert result['failed'] and 'exists and is not a directory' in result['msg']


def test_secret_files_are_written_as_they_are_root_only_and_removed_when_empty(args, tmp_path):
    """secret_files: a token file a service mounts, written before the other files, mode 0600, its content
    never in the diff; env_changed stays about the env files; an empty value removes the file."""
    project = tmp_path / 'mlflow'
    result = run(dict(args, secret_files={'auth_token': 'T0ken-without-newline'}), diff=True)
    assert result['changed_files'][0] == 'auth_token'
    assert (project / 'auth_token').read_text() == 'T0ken-without-newline'
    assert mode(project / 'auth_token') == '0600'
    assert 'T0ken' not in repr(result['diff'])
    rerun = run(dict(args, secret_files={'auth_token': 'T0ken-without-newline'}))
    assert not rerun['changed']
    rotated = run(dict(args, secret_files={'auth_token': 'other'}))
    assert rotated['changed_files'] == ['auth_token'] and not rotated['env_changed']
    removed = run(dict(args, secret_files={'auth_token': ''}))
    assert removed['changed_files'] == ['auth_token'] and not (project / 'auth_token').exists()
    assert not run(dict(args, secret_files={'auth_token': None}))['changed']


def test_secret_files_are_a_no_log_option():
    with mock.patch.object(project_files, 'AnsibleModule', side_effect=RuntimeError('stop')) as module:
        with pytest.raises(RuntimeError):
            project_files.main()
    assert module.call_args.kwargs['argument_spec']['secret_files']['no_log'] is True


def test_compose_project_is_checked_only_when_no_file_changed(args):
    args = dict(args, compose_project='cslr-mlflow', compose_services=['mlflow'])
    with mock.patch.object(project_files._compose_state, 'check', return_value=(True, 'fine')) as check, \
            mock.patch.object(basic.AnsibleModule, 'get_bin_path', return_value='/usr/bin/docker'):
        first = run(args)
        assert not check.called
        assert (first['compose_project'], first['compose_settled']) == ('cslr-mlflow', False)
        assert first['compose_state'] == 'files of the project changed'
        again = run(args, check=True)
    assert (again['changed'], again['compose_settled'], again['compose_state']) == (False, True, 'fine')
    _run, compose_file, project_dir, project, services = check.call_args[0]
    assert (compose_file, project, services) == (os.path.join(args['path'], 'compose.yaml'), 'cslr-mlflow', ['mlflow'])
    assert project_dir == args['path']


def test_an_unexpected_docker_answer_is_not_settled(args):
    run(args)
    args = dict(args, compose_project='cslr-mlflow')
    with mock.patch.object(project_files._compose_state, 'check', side_effect=KeyError('Config')), \
            mock.patch.object(basic.AnsibleModule, 'get_bin_path', return_value='/usr/bin/docker'):
        result = run(args)
    assert not result['compose_settled'] and 'unexpected answer from Docker' in result['compose_state']
    assert 'compose_settled' not in run(dict(args, compose_project=None))


def test_without_docker_the_project_is_not_settled(args):
    run(args)
    with mock.patch.object(basic.AnsibleModule, 'get_bin_path', return_value=None):
        result = run(dict(args, compose_project='cslr-mlflow'))
    assert (result['compose_settled'], result['compose_state']) == (False, 'docker is not installed')
