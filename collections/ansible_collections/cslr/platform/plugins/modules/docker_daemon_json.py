#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_daemon_json
short_description: Merge settings into Docker's daemon.json, keeping every other key, in one call
version_added: 0.2.0
description:
  - Reads Docker's C(daemon.json), merges O(settings) into it (dictionaries key by key, at every depth; any other value,
    lists included, replaced), and writes it back when the result differs, checked with O(validate) first. Keys that
    others wrote (the NVIDIA runtime, registry mirrors, a person's own settings) stay.
  - One module run where a role would C(slurp) the file and C(copy) the merge (three module runs on a settled rerun).
  - The file is written as C(to_nice_json(indent=2)) writes it, with a final newline, through a temporary file renamed
    over the old one.
  - Does not restart Docker; notify a handler when the task reports a change.
author:
  - cslr.platform maintainers (@cslr-platform)
options:
  path:
    description: The daemon.json file. Its directory is created (mode 0755) when missing.
    type: path
    default: /etc/docker/daemon.json
  settings:
    description:
      - The settings, merged into the file's content in this order (a later one wins, as with
        C(ansible.builtin.combine(recursive=true))).
    type: list
    elements: dict
    required: true
  validate:
    description:
      - The command that checks the new file before it replaces the old one, C(%s) being the new file. Empty for none.
    type: str
    default: dockerd --validate --config-file %s
  mode:
    description: Mode of the file.
    type: raw
    default: '0644'
notes:
  - Needs the right to write O(path) (root, with C(become)). The file is owned by root.
  - A link at O(path) is read through, and replaced by a file when the content changes (as M(ansible.builtin.copy)
    does by default).
attributes:
  check_mode:
    support: full
    details: Reports whether the file would change; writes nothing and does not validate.
  diff_mode:
    support: full
    details: Shows the change of the file.
  platform:
    platforms: posix
seealso:
  - module: ansible.builtin.copy
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Merge the managed keys into daemon.json
  cslr.platform.docker_daemon_json:
    settings:
      - log-driver: json-file
        log-opts: {max-size: 100m, max-file: '3'}
        live-restore: true
      - "{{ cslr_docker_daemon_options }}"
  notify: Restart docker
"""

RETURN = r"""
content:
  description: The merged settings (what the file holds after the run, or would hold in check mode).
  returned: success
  type: dict
  sample: {"live-restore": true, "log-driver": "json-file"}
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.dict_transformations import dict_merge
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.cslr.platform.plugins.module_utils import _small_files


def render(data):
    """The file's text as ansible.builtin.to_nice_json(indent=2) writes it, and a final newline."""
    return json.dumps(data, indent=2, sort_keys=True, separators=(',', ': ')) + '\n'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/etc/docker/daemon.json'),
            settings=dict(type='list', elements='dict', required=True),
            validate=dict(type='str', default='dockerd --validate --config-file %s'),
            mode=dict(type='raw', default='0644'),
        ),
        supports_check_mode=True,
    )
    path = module.params['path']
    if os.path.isdir(path):
        module.fail_json(msg='%s is a directory; a file is wanted there' % path)
    before = _small_files.read(path)
    current = {}
    if before is not None and before.strip():
        try:
            current = json.loads(before.decode('utf-8'))
        except ValueError as exc:
            module.fail_json(msg='%s is not valid JSON (%s), so the settings cannot be merged into it. Nothing was changed. '
                             'Fix: correct or remove the file on this host (Docker refuses to start with it too), then '
                             'run again.' % (path, to_native(exc)))
        if not isinstance(current, dict):
            module.fail_json(msg='%s holds a JSON %s, not an object. Nothing was changed. Fix: correct or remove the file '
                             'on this host, then run again.' % (path, type(current).__name__))
    # dict_merge: dictionaries key by key at every depth, other values replaced, as combine(recursive=true) does.
    wanted = current
    for settings in module.params['settings']:
        wanted = dict_merge(wanted, settings)
    data = to_bytes(render(wanted))
    writer = _small_files.Writer(module)
    changed = before != data
    if changed and not module.check_mode:
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            writer.directory(directory, 'root', 'root', '0755')
        writer.write(path, data, 'root', 'root', module.params['mode'], module.params['validate'] or None)
    elif not changed:
        changed = writer.attributes(path, 'root', 'root', module.params['mode'])
    result = dict(changed=changed, content=wanted)
    if module._diff and before != data:
        result['diff'] = {'before_header': path, 'after_header': path,
                          'before': '' if before is None else before.decode('utf-8', 'replace'),
                          'after': data.decode('utf-8')}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
