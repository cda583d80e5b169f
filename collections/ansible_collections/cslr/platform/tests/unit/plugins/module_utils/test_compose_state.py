# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for _compose_state: when a Compose project is settled (`compose up` would find nothing to do), on
`docker compose --dry-run up` output and `docker inspect` shaped data with a fake command runner; the real
answers of Compose and Docker are checked by molecule (test_settled_stacks.py, test_awx_runner.py)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.cslr.platform.plugins.module_utils import _compose_state as cs

PROJECT = 'cslr-mlflow'
SERVICES = ['mlflow', 'postgres']
IMAGES = {'reg/postgres:16': 'sha256:pg', 'reg/mlflow:3': 'sha256:ml'}


SETTLED_DRY_RUN = """ DRY-RUN MODE -  Container cslr-postgres  Running
 DRY-RUN MODE -  Container cslr-mlflow  Running
 DRY-RUN MODE -  Container cslr-postgres  Waiting
 DRY-RUN MODE -  Container cslr-postgres  Healthy
"""
# What Compose 2.26 printed for the exporters stack after its container was recreated from another
# configuration, and with the container stopped.
RECREATE_DRY_RUN = """ DRY-RUN MODE -  Container cslr-lab-node-exporter  Recreate
 DRY-RUN MODE -  Container cslr-lab-node-exporter  Recreated
 DRY-RUN MODE -  Container 7546cef6a487_cslr-lab-node-exporter  Starting
"""
STOPPED_DRY_RUN = """ DRY-RUN MODE -  Container cslr-lab-node-exporter  Created
 DRY-RUN MODE -  Container cslr-lab-node-exporter  Starting
"""


def container(service, image='sha256:ml', reference='reg/mlflow:3', status='running',
              health='healthy', oneoff=False, restarting=False):
    labels = {cs.PROJECT_LABEL: PROJECT, cs.SERVICE_LABEL: service}
    if oneoff:
        labels[cs.ONEOFF_LABEL] = 'True'
    state = {'Status': status, 'Restarting': restarting}
    if health is not None:
        state['Health'] = {'Status': health}
    return {'Id': service * 8, 'Name': '/%s-%s' % (PROJECT, service), 'Image': image,
            'Config': {'Labels': labels, 'Image': reference}, 'State': state}


def settled_pair():
    return [container('postgres', image='sha256:pg', reference='reg/postgres:16', health=None),
            container('mlflow')]


def test_a_dry_run_that_leaves_every_container_as_it_is_changes_nothing():
    assert cs.dry_run_change(SETTLED_DRY_RUN) is None
    assert cs.dry_run_change('') is None


@pytest.mark.parametrize('text, line', [
    (RECREATE_DRY_RUN, 'Container cslr-lab-node-exporter Recreate'),
    (STOPPED_DRY_RUN, 'Container cslr-lab-node-exporter Created'),
    (' DRY-RUN MODE -  Network cslr_default  Creating\n', 'Network cslr_default Creating'),
    ('WARN[0000] Found orphan containers\n', 'WARN[0000] Found orphan containers'),
])
def test_any_other_dry_run_line_is_a_change(text, line):
    assert cs.dry_run_change(SETTLED_DRY_RUN + text) == line


def test_every_service_running_from_its_image_is_settled():
    assert cs.unsettled(SERVICES, settled_pair(), IMAGES) is None


@pytest.mark.parametrize('change, reason', [
    (dict(image='sha256:older'), 'mlflow: its image reg/mlflow:3 is not the one the host has'),
    (dict(reference='reg/mlflow:2'), 'mlflow: its image reg/mlflow:2 is not the one the host has'),
    (dict(status='exited'), 'mlflow: exited'),
    (dict(restarting=True), 'mlflow: restarting'),
    (dict(health='starting'), 'mlflow: starting'),
    (dict(health='unhealthy'), 'mlflow: unhealthy'),
])
def test_anything_up_would_change_or_wait_for_is_not_settled(change, reason):
    containers = [settled_pair()[0], container('mlflow', **change)]
    assert cs.unsettled(SERVICES, containers, IMAGES).startswith(reason)


def test_a_missing_container_a_second_one_and_an_orphan_are_not_settled():
    pg, ml = settled_pair()
    assert cs.unsettled(SERVICES, [pg], IMAGES) == 'mlflow: 0 containers, 1 wanted'
    assert cs.unsettled(SERVICES, [pg, ml, container('mlflow')], IMAGES) == 'mlflow: 2 containers, 1 wanted'
    assert 'belongs to no service' in cs.unsettled(SERVICES, [pg, ml, container('old')], IMAGES)


def test_an_image_not_on_the_host_and_an_empty_file_are_not_settled():
    assert 'is not the one' in cs.unsettled(SERVICES, settled_pair(), {})
    assert cs.unsettled({}, [], {}) == 'the compose file has no service'


def test_one_off_containers_do_not_count():
    assert cs.unsettled(SERVICES, settled_pair() + [container('mlflow', oneoff=True, status='exited')], IMAGES) is None


def test_only_the_given_services_must_be_settled_but_orphans_still_count():
    pg = settled_pair()[0]
    assert cs.unsettled(SERVICES, [pg], IMAGES, ['postgres']) is None
    assert 'belongs to no service' in cs.unsettled(SERVICES, [pg, container('old')], IMAGES, ['postgres'])
    assert cs.unsettled(SERVICES, [pg], IMAGES, ['nope']) == 'service nope is not in the compose file'


class Docker(object):
    """Answers the commands check() runs, and records them."""

    def __init__(self, dry_run=SETTLED_DRY_RUN, containers=None, dry_run_rc=0, image_rc=0):
        self.containers = settled_pair() if containers is None else containers
        self.dry_run, self.dry_run_rc, self.image_rc = dry_run, dry_run_rc, image_rc
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        if argv[:2] == ['docker', 'compose'] and argv[-2:] == ['config', '--services']:
            return 0, 'mlflow\npostgres\n', ''
        if argv[:2] == ['docker', 'compose'] and '--dry-run' in argv:
            return (self.dry_run_rc, '', 'unknown flag: --dry-run' if self.dry_run_rc else self.dry_run)
        if argv[:3] == ['docker', 'container', 'ls']:
            return 0, ''.join(c['Id'] + '\n' for c in self.containers), ''
        if argv[:3] == ['docker', 'container', 'inspect']:
            return 0, json.dumps([c for c in self.containers if c['Id'] in argv]), ''
        if argv[:3] == ['docker', 'image', 'inspect']:
            refs = argv[5:]
            return self.image_rc, ''.join(json.dumps(IMAGES[r]) + '\n' for r in refs if r in IMAGES), ''
        raise AssertionError(argv)


COMPOSE = ['docker', 'compose', '--ansi', 'never', '--progress', 'plain', '--project-directory', '/p',
           '--project-name', PROJECT, '--file', '/p/compose.yaml']


def test_check_asks_compose_what_up_would_do_and_docker_for_the_containers_and_images():
    docker = Docker()
    assert cs.check(docker, '/p/compose.yaml', '/p', PROJECT, ['mlflow']) == (
        True, 'every service runs as its compose file wants')
    assert docker.calls[0] == COMPOSE + ['config', '--services']
    assert docker.calls[1] == COMPOSE + ['--dry-run', 'up', '--detach', '--remove-orphans', '--pull', 'never', 'mlflow']
    assert 'label=com.docker.compose.project=%s' % PROJECT in docker.calls[2]
    assert docker.calls[4][5:] == ['reg/mlflow:3', 'reg/postgres:16']


def test_check_is_not_settled_when_compose_would_change_something_or_docker_cannot_answer():
    settled, reason = cs.check(Docker(dry_run=RECREATE_DRY_RUN), '/p/compose.yaml', '/p', PROJECT)
    assert (settled, reason) == (False, 'docker compose up would do: Container cslr-lab-node-exporter Recreate')
    settled, reason = cs.check(Docker(dry_run_rc=1), '/p/compose.yaml', '/p', PROJECT)
    assert not settled and 'unknown flag' in reason
    assert not cs.check(Docker(image_rc=1), '/p/compose.yaml', '/p', PROJECT)[0]
    settled, reason = cs.check(Docker(containers=[]), '/p/compose.yaml', '/p', PROJECT)
    assert not settled and reason == 'mlflow: 0 containers, 1 wanted'
