#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: project_files
short_description: Bring a directory's small files (a stack's compose file, its secrets, the files it mounts) to a wanted set in one call
version_added: 0.2.0
description:
  - Creates the directory O(path), then writes each file of O(env_files) and O(files) whose content, owner or mode
    differs, and removes the secrets files that are no longer configured, all in one module run.
  - One task per Compose project instead of one M(ansible.builtin.file) and one M(ansible.builtin.copy) per file, each of
    them a round trip to the host; a settled rerun reads the files and changes nothing.
  - Each file is written to a temporary file in O(path), given its owner and mode, checked with its O(files[].validate)
    command when it has one, and renamed over the old file, so a reader never sees a half-written or an invalid file.
  - The action plugin reads O(files[].src) on the controller, as M(ansible.builtin.copy) does.
author:
  - cslr.platform maintainers (@cslr-platform)
options:
  path:
    description: The directory; created when missing.
    type: path
    required: true
  mode:
    description:
      - Mode of the directory, and of each missing parent directory it creates (as M(ansible.builtin.file) does).
      - Quote it (V('0750')), or give it as an octal number.
    type: raw
    default: '0750'
  owner:
    description: Owner of the directory and of every file.
    type: str
    default: root
  group:
    description: Group of the directory and of every file.
    type: str
    default: root
  files:
    description:
      - The files, in the order they are written (a file whose O(files[].validate) reads the others comes last).
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: File name inside O(path) (no directory part).
        type: str
        required: true
      content:
        description: The content (text). Required unless O(files[].src) is given.
        type: str
      src:
        description: A file on the controller whose content is written (read by the action plugin).
        type: str
      mode:
        description: Mode of the file (quoted, or an octal number).
        type: raw
        default: '0644'
      validate:
        description:
          - Command that checks the new content before it replaces the file, C(%s) standing for the temporary file's
            path; run only when the content changes, never in check mode.
        type: str
  env_files:
    description:
      - "C({NAME: {VARIABLE: value}}): secrets written to C(NAME.env) (mode 0600) as C(VARIABLE='value') lines, sorted by
        name, values single-quoted so Compose takes them literally. Never logged."
      - An entry whose value is empty or null removes C(NAME.env) (secrets no longer configured).
    type: dict
    default: {}
  secret_files:
    description:
      - "C({NAME: content}): secrets written as they are to C(NAME) (mode 0600), before O(env_files) and O(files), e.g.
        a token file a service mounts. Never logged, never shown in a diff."
      - An entry whose value is empty or null removes C(NAME).
    type: dict
    default: {}
  env_header:
    description: The comment line at the top of every C(NAME.env) file (without C(#)).
    type: str
    default: 'Managed by cslr.platform. Values are single-quoted: literal.'
  compose_project:
    description:
      - The Compose project whose C(compose.yaml) is in O(path). When given and no file was (or would be) written or
        removed, the module also asks Docker whether the project runs as that compose file wants, and returns
        RV(compose_settled), so that the caller can skip C(docker compose up --wait), which would find nothing to do.
      - "Settled means: C(docker compose --dry-run up) with the flags of the compose role's C(up) (pull never, remove
        orphans) would leave every container as it is (Compose's own rules, env files included); each service has
        exactly one container, created from the image its reference names on the host now, running and healthy
        where it has a health check; no container of a service the file no longer has. Anything else, or an answer
        of Compose or Docker this check does not know, is not settled."
    type: str
  compose_services:
    description: With O(compose_project), only these services must be settled (default all; orphans still count).
    type: list
    elements: str
    default: []
notes:
  - Needs the right to create O(path) and to change the owner of its files (root, with C(become)).
  - Text files only; they are written as UTF-8.
  - Every value of O(env_files) and O(secret_files) is masked (C(********)) wherever it appears in the result, as for any C(no_log)
    option, also inside file names and diffs; RV(files_changed) and RV(env_changed) are booleans, which masking
    never rewrites, so a caller decides with them rather than with RV(changed_files).
attributes:
  check_mode:
    support: full
    details: Reports which files would be written or removed; writes nothing and runs no validate command.
  diff_mode:
    support: full
    details: Shows the changes of O(files); the content of O(env_files) is never shown.
  platform:
    platforms: posix
seealso:
  - module: ansible.builtin.copy
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Write the project of the mlflow stack in one run
  cslr.platform.project_files:
    path: /var/lib/cslr-platform/mlflow
    env_files:
      postgres:
        POSTGRES_PASSWORD: "{{ cslr_postgres_password }}"
    files:
      - dest: cslr_mlflow_auth.py
        src: "{{ role_path }}/files/cslr_mlflow_auth.py"
      - dest: compose.yaml
        content: "{{ lookup('ansible.builtin.template', 'compose.yaml.j2') }}"
        mode: '0640'
        validate: docker compose --project-directory /var/lib/cslr-platform/mlflow --file %s config --quiet
  register: project
"""

RETURN = r"""
changed_files:
  description:
    - The names of the files written, whose owner or mode changed, or removed (would be, in check mode).
    - For people; values of O(env_files) in a name are masked.
  returned: always
  type: list
  elements: str
  sample: [postgres.env, compose.yaml]
files_changed:
  description: For each entry of O(files), in order, whether it was (or would be) written or its owner or mode changed.
  returned: always
  type: list
  elements: bool
  sample: [false, true]
env_changed:
  description: Whether a file of O(env_files) was (or would be) written or removed (O(secret_files) not included).
  returned: always
  type: bool
compose_settled:
  description:
    - Whether the project runs as its compose file wants (see O(compose_project)); false when a file changed.
    - Also read in check mode, as the check only reads.
  returned: when O(compose_project) is given
  type: bool
compose_project:
  description: The project RV(compose_settled) is about (O(compose_project)).
  returned: when O(compose_project) is given
  type: str
  sample: cslr-ray
compose_state:
  description: Why the project is or is not settled, for people.
  returned: when O(compose_project) is given
  type: str
  sample: 'docker compose up would do: Container cslr-ray Recreate'
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.cslr.platform.plugins.module_utils import _compose_state, _small_files


def env_content(header, values):
    """The text of one secrets file: the header, then NAME='value' lines sorted as Jinja's dictsort does."""
    lines = ['# %s' % header]
    for name in sorted(values, key=lambda key: (str(key).lower(), str(key))):
        lines.append("%s='%s'" % (name, values[name]))  # str() of each value, as Jinja's {{ value }}
    return '\n'.join(lines) + '\n'


def plan(params):
    """The wanted files in write order: (name, bytes or None to remove, mode, validate, secret); secret is
    'file' for secret_files, 'env' for env_files and None for the entries of files."""
    wanted = []
    for name, content in sorted((params.get('secret_files') or {}).items()):
        wanted.append((name, to_bytes(content) if content else None, '0600', None, 'file'))
    for name, values in sorted((params['env_files'] or {}).items()):
        data = to_bytes(env_content(params['env_header'], values)) if values else None
        wanted.append((name + '.env', data, '0600', None, 'env'))
    for item in params['files']:
        if item.get('content') is None:
            raise ValueError('files: %s has neither content nor src' % item['dest'])
        wanted.append((item['dest'], to_bytes(item['content']), item['mode'], item.get('validate'), None))
    for name, _data, _mode, _validate, _secret in wanted:
        if not name or '/' in name or name in ('.', '..'):
            raise ValueError('%r is not a plain file name inside path' % name)
    return wanted


class Writer(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.files = _small_files.Writer(module)
        self.changed_files = []
        self.diff = []

    def attributes(self, path, mode):
        return self.files.attributes(path, self.params['owner'], self.params['group'], mode)

    def directory(self):
        return self.files.directory(self.params['path'], self.params['owner'], self.params['group'],
                                    self.params['mode'])

    def write(self, dest, data, mode, validate):
        self.files.write(dest, data, self.params['owner'], self.params['group'], mode, validate,
                         changed_files=self.changed_files)

    def compose_state(self, changed):
        """compose_settled and compose_state of the result (see the compose_project option)."""
        project = self.params['compose_project']
        if changed:
            return dict(compose_project=project, compose_settled=False, compose_state='files of the project changed')
        path = os.path.abspath(self.params['path'])
        if not self.module.get_bin_path('docker'):
            return dict(compose_project=project, compose_settled=False, compose_state='docker is not installed')
        try:
            settled, reason = _compose_state.check(
                self.module.run_command, os.path.join(path, 'compose.yaml'), path,
                project, self.params['compose_services'])
        except (ValueError, KeyError, TypeError) as exc:  # an answer of Docker this check does not know
            settled, reason = False, 'unexpected answer from Docker: %s' % to_native(exc)
        return dict(compose_project=project, compose_settled=settled, compose_state=reason)

    def run(self):
        module = self.module
        try:
            wanted = plan(self.params)
        except ValueError as exc:
            module.fail_json(msg=to_native(exc))
        changed = self.directory()
        env_changed = False
        files_changed = []
        for name, data, mode, validate, secret in wanted:
            dest = os.path.join(self.params['path'], name)
            if os.path.isdir(dest):
                module.fail_json(msg='%s is a directory; it cannot be replaced by a file' % dest)
            before = _small_files.read(dest)
            if data is None:
                if before is None and not os.path.lexists(dest):
                    continue
                if not module.check_mode:
                    os.unlink(dest)
                touched = True
            elif before != data:
                if not module.check_mode:
                    self.write(dest, data, mode, validate)
                touched = True
            else:
                touched = self.attributes(dest, mode)
            if secret is None:
                files_changed.append(bool(touched))
            if not touched:
                continue
            self.changed_files.append(name)
            env_changed = env_changed or secret == 'env'
            if module._diff and before != data:
                if secret:
                    self.diff.append({'before_header': dest, 'after_header': dest,
                                      'prepared': '%s: secrets %s (content not shown)'
                                                  % (dest, 'removed' if data is None else 'written')})
                else:
                    self.diff.append({'before_header': dest, 'after_header': dest,
                                      'before': '' if before is None else before.decode('utf-8', 'replace'),
                                      'after': data.decode('utf-8', 'replace')})
        result = dict(changed=changed or bool(self.changed_files), changed_files=self.changed_files,
                      files_changed=files_changed, env_changed=env_changed)
        if self.params.get('compose_project'):
            result.update(self.compose_state(result['changed']))
        if module._diff:
            result['diff'] = self.diff
        module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            mode=dict(type='raw', default='0750'),
            owner=dict(type='str', default='root'),
            group=dict(type='str', default='root'),
            files=dict(type='list', elements='dict', default=[], options=dict(
                dest=dict(type='str', required=True),
                content=dict(type='str'),
                src=dict(type='str'),
                mode=dict(type='raw', default='0644'),
                validate=dict(type='str'),
            )),
            env_files=dict(type='dict', default={}, no_log=True),
            secret_files=dict(type='dict', default={}, no_log=True),
            env_header=dict(type='str', default="Managed by cslr.platform. Values are single-quoted: literal."),
            compose_project=dict(type='str'),
            compose_services=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    for item in module.params['files']:
        if item.get('src') is not None:
            module.fail_json(msg='files: %s: src is read by the action plugin; run the module as '
                                 'cslr.platform.project_files' % item['dest'])
    Writer(module).run()


if __name__ == '__main__':
    main()
