#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_files
short_description: Bring a host's small files and directories, anywhere on the host, to a wanted set in one call
version_added: 0.2.0
description:
  - Creates each directory and writes each file of O(entries) whose content, owner or mode differs, in the order given,
    all in one module run. One task where a role would run one M(ansible.builtin.file), M(ansible.builtin.copy) or
    M(ansible.builtin.template) per item, each a round trip to the host (a C(stat) and a C(file) run per item on a
    settled rerun).
  - A file is written to a temporary file in its directory, given its owner and mode, and renamed over the old file,
    so a reader never sees a half-written file.
  - For files inside one directory of a Compose project, see M(cslr.platform.project_files).
author:
  - cslr.platform maintainers (@cslr-platform)
options:
  entries:
    description: The directories and files, in the order they are created or written.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      state:
        description:
          - V(file) writes O(entries[].content); its directory must exist or be an earlier entry.
          - V(directory) creates the directory and each missing parent, each with the entry's owner and mode (as
            M(ansible.builtin.file) does).
          - A link in place of a file is refused. A link to a directory in place of a directory is followed unless
            O(entries[].follow=false).
        type: str
        choices: [file, directory]
        default: file
      content:
        description:
          - The content (text) of a file. Required with O(entries[].state=file).
          - Not a C(no_log) value (it is shown in a diff and in the module's arguments at C(-vvv)); a task that writes
            a secret sets C(no_log) itself.
        type: str
      owner:
        description: Owner.
        type: str
        default: root
      group:
        description: Group.
        type: str
        default: root
      mode:
        description: Mode (quoted, or an octal number). Default V('0644') for a file, V('0755') for a directory.
        type: raw
      if_missing:
        description:
          - "Create the directory or write the file only when it is missing, and leave an existing one as it is
            (content, owner and mode): a directory that another role or a person owns, a secret generated once."
        type: bool
        default: false
      follow:
        description:
          - "With O(entries[].state=directory), whether a link in its place is followed (its target's owner and mode
            set). V(false) refuses it, for a path inside a directory that others can write to, where a link could
            point anywhere."
        type: bool
        default: true
notes:
  - Needs the right to write the paths and to change their owner (root, with C(become)).
  - Text files only; they are written as UTF-8.
attributes:
  check_mode:
    support: full
    details: Reports what would be created or written; changes nothing.
  diff_mode:
    support: full
    details: Shows the changes of the files' content.
  platform:
    platforms: posix
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
  - module: cslr.platform.project_files
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Write the training environment, its wrapper and its units in one run
  cslr.platform.host_files:
    entries:
      - {path: /etc/cslr, state: directory, mode: '0755'}
      - path: /etc/cslr/training.env
        content: "{{ lookup('ansible.builtin.template', 'training.env.j2') }}"
      - path: /usr/local/bin/cslr-train
        content: "{{ lookup('ansible.builtin.template', 'cslr-train.j2') }}"
        mode: '0755'
  register: training_files

- name: Say that cslr-train changed (entry 3)
  ansible.builtin.debug:
    msg: cslr-train changed
  when: training_files.entries_changed[2]
"""

RETURN = r"""
changed_paths:
  description: The paths created, written, or whose owner or mode changed (would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/cslr/training.env]
entries_changed:
  description: For each entry of O(entries), in order, whether it was (or would be) created, written or changed.
  returned: always
  type: list
  elements: bool
  sample: [false, true, false]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.cslr.platform.plugins.module_utils import _small_files


def run(module):
    writer = _small_files.Writer(module)
    entries_changed, changed_paths, diff = [], [], []
    for entry in module.params['entries']:
        path = entry['path']
        if entry['mode'] is None:
            entry['mode'] = '0755' if entry['state'] == 'directory' else '0644'
        if not os.path.isabs(path):
            module.fail_json(msg='entries: %s is not an absolute path' % path)
        if entry['state'] == 'directory':
            if os.path.islink(path):
                if not entry['follow']:
                    module.fail_json(msg='%s is a link; a directory is wanted there (follow is false)' % path)
                path = os.path.realpath(path)  # as ansible.builtin.file does with follow
            if entry['if_missing'] and os.path.isdir(path):
                changed = False
            else:
                changed = writer.directory(path, entry['owner'], entry['group'], entry['mode'])
        else:
            if entry.get('content') is None:
                module.fail_json(msg='entries: %s has no content' % path)
            data = to_bytes(entry['content'])
            if entry['if_missing'] and os.path.lexists(path):
                entries_changed.append(False)
                continue
            if os.path.islink(path):
                module.fail_json(msg='%s is a link; a file is wanted there (links are not followed)' % path)
            if os.path.isdir(path):
                module.fail_json(msg='%s is a directory; it cannot be replaced by a file' % path)
            if not os.path.isdir(os.path.dirname(path)) and not module.check_mode:
                module.fail_json(msg='%s: its directory does not exist (add it as an earlier entry)' % path)
            before = _small_files.read(path)
            if before != data:
                if not module.check_mode:
                    writer.write(path, data, entry['owner'], entry['group'], entry['mode'])
                changed = True
                if module._diff:
                    diff.append({'before_header': path, 'after_header': path,
                                 'before': '' if before is None else before.decode('utf-8', 'replace'),
                                 'after': data.decode('utf-8', 'replace')})
            else:
                changed = writer.attributes(path, entry['owner'], entry['group'], entry['mode'])
        entries_changed.append(bool(changed))
        if changed:
            changed_paths.append(path)
    result = dict(changed=bool(changed_paths), changed_paths=changed_paths,
                  entries_changed=entries_changed)
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            entries=dict(type='list', elements='dict', required=True, options=dict(
                path=dict(type='path', required=True),
                state=dict(type='str', choices=['file', 'directory'], default='file'),
                content=dict(type='str'),
                owner=dict(type='str', default='root'),
                group=dict(type='str', default='root'),
                mode=dict(type='raw'),
                if_missing=dict(type='bool', default=False),
                follow=dict(type='bool', default=True),
            )),
        ),
        supports_check_mode=True,
    )
    run(module)


if __name__ == '__main__':
    main()
