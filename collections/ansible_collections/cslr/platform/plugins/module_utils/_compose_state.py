# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the cslr.platform collection. Not a public API: names and return
# shapes may change in any release without notice.
#
# Is a Compose project already as its compose file wants it, so that
# `docker compose up --wait` would find nothing to do? Asked by
# cslr.platform.project_files after it found the project's files unchanged, so
# a settled rerun skips one `compose up` module run per stack.
#
# Compose decides what `up` would do: `docker compose --dry-run up` with the
# flags the compose role's `up` uses prints one line per container, and the
# project is settled only when every line says the container is running as it
# is ("Running", "Waiting", "Healthy"); a line saying it would create, recreate,
# start or remove anything, or one this check does not know, is not settled.
# Compose's own logic, so an env_file change or a configuration hash rule of
# the installed Compose version is judged as `up` judges it (`docker compose
# config --hash` is not: since Compose 2.22 it ignores env_file, docker/compose
# issue 14001). What a dry run does not show is checked on `docker inspect`:
#   - every wanted service has exactly one container, and the project has no
#     container of a service the file no longer has (an orphan `up` removes);
#   - each container runs the image its reference names on the host now (a tag
#     pulled anew), runs, is not restarting, and is healthy where it has a
#     health check (what `up --wait` waits for).
# One-off containers (`docker compose run`) are not part of the project's state.
# Anything unexpected, an error from Docker included, is "not settled": the
# caller then runs `compose up` as always.
#
# Python >= 3.9 syntax (the module runs on the hosts' Python).

from __future__ import annotations

import json

PROJECT_LABEL = 'com.docker.compose.project'
SERVICE_LABEL = 'com.docker.compose.service'
ONEOFF_LABEL = 'com.docker.compose.oneoff'


UNCHANGED = ('Running', 'Waiting', 'Healthy')
DRY_RUN_PREFIX = 'DRY-RUN MODE -'


def dry_run_change(text):
    """The first line of `docker compose --dry-run up` output that is not a container left as it is, or None."""
    for line in text.splitlines():
        words = line.replace(DRY_RUN_PREFIX, ' ').split()
        if not words:
            continue
        if len(words) != 3 or words[0] != 'Container' or words[2] not in UNCHANGED:
            return ' '.join(words)
    return None


def unsettled(services, containers, image_ids, selected=None):
    """Why the containers are not as `up --wait` leaves them, or None when they are.

    services: the services the compose file enables (`docker compose config --services`);
    containers: `docker inspect` of every container with the project's label;
    image_ids: {image reference: image ID} of the references those containers name
    (a reference missing here is not on the host);
    selected: only these services must be settled (None or empty: all of them).
    """
    if not services:
        return 'the compose file has no service'
    missing = sorted(set(selected or ()) - set(services))
    if missing:
        return 'service %s is not in the compose file' % ', '.join(missing)
    by_service = {}
    for container in containers:
        labels = (container.get('Config') or {}).get('Labels') or {}
        if str(labels.get(ONEOFF_LABEL, '')).lower() == 'true':
            continue
        service = labels.get(SERVICE_LABEL)
        if service not in services:
            return 'container %s belongs to no service of the compose file' % _name(container)
        by_service.setdefault(service, []).append(container)
    for service in sorted(selected or services):
        found = by_service.get(service, [])
        if len(found) != 1:
            return '%s: %d containers, 1 wanted' % (service, len(found))
        container = found[0]
        reference = container['Config'].get('Image')
        if not reference or image_ids.get(reference) != container.get('Image'):
            return '%s: its image %s is not the one the host has under that name now' % (service, reference)
        state = container.get('State') or {}
        if state.get('Status') != 'running' or state.get('Restarting'):
            return '%s: %s' % (service, 'restarting' if state.get('Restarting') else state.get('Status') or 'no state')
        health = (state.get('Health') or {}).get('Status')
        if health not in (None, 'healthy'):
            return '%s: %s' % (service, health)
    return None


def _name(container):
    return str(container.get('Name') or container.get('Id', '?')[:12]).lstrip('/')


def _failed(what, out, err):
    return False, '%s failed: %s' % (what, (err or out).strip())


def check(run, compose_file, project_dir, project_name, services=None):
    """Ask Compose and Docker; return (settled, reason). run(argv) -> (rc, stdout, stderr) as
    AnsibleModule.run_command."""
    compose = ['docker', 'compose', '--ansi', 'never', '--progress', 'plain', '--project-directory', project_dir,
               '--project-name', project_name, '--file', compose_file]
    rc, out, err = run(compose + ['config', '--services'])
    if rc != 0:
        return _failed('docker compose config --services', out, err)
    enabled = out.split()
    # The flags of the compose role's up.yml (community.docker.docker_compose_v2: state present, pull never,
    # remove_orphans); progress goes to stderr.
    rc, out, err = run(compose + ['--dry-run', 'up', '--detach', '--remove-orphans', '--pull', 'never']
                       + list(services or []))
    if rc != 0:
        return _failed('docker compose --dry-run up', out, err)
    change = dry_run_change(err + '\n' + out)
    if change:
        return False, 'docker compose up would do: %s' % change
    rc, out, err = run(['docker', 'container', 'ls', '--all', '--quiet', '--no-trunc',
                        '--filter', 'label=%s=%s' % (PROJECT_LABEL, project_name)])
    if rc != 0:
        return _failed('docker container ls', out, err)
    ids = out.split()
    containers = []
    if ids:
        rc, out, err = run(['docker', 'container', 'inspect'] + ids)
        if rc != 0:
            return _failed('docker container inspect', out, err)
        containers = json.loads(out)
    references = sorted(set(c['Config']['Image'] for c in containers if (c.get('Config') or {}).get('Image')))
    image_ids = {}
    if references:
        rc, out, err = run(['docker', 'image', 'inspect', '--format', '{{json .Id}}'] + references)
        # rc 1 when a reference is not on the host: then nothing maps, and that service is not settled
        lines = [line for line in out.splitlines() if line.strip()]
        if rc == 0 and len(lines) == len(references):
            image_ids = dict(zip(references, (json.loads(line) for line in lines)))
    reason = unsettled(enabled, containers, image_ids, services)
    return reason is None, reason or 'every service runs as its compose file wants'
