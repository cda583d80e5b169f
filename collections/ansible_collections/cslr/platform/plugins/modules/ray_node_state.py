#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ray_node_state
short_description: Read whether a host's Ray container runs and what its entrypoint decided, in one call
version_added: 0.2.0
description:
  - Reads, in one module run, whether the Ray container of the host runs (C(docker container inspect)) and the state
    files its entrypoint wrote when it decided to be the head or a worker (C(role), C(gcs_address)), with the files
    Ansible wrote for it (C(elected_head), C(candidates)).
  - The state files are those of the Ray state directory protocol (C(STATE_FILES) of module_utils C(_election)), which
    the container entrypoint and this module share.
  - Read-only.
author:
  - cslr.platform maintainers (@cslr-platform)
options:
  container:
    description: The name of the Ray container.
    type: str
    required: true
  state_dir:
    description: The Ray state directory on the host (mounted into the container).
    type: path
    required: true
notes:
  - A host without the C(docker) command, or without the container, reports O(container) as not running.
  - Needs the right to talk to the Docker engine (root, with C(become)).
attributes:
  check_mode:
    support: full
    details: Reads only; the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: cslr.platform.ray_head
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Read the running Ray container and its decision
  cslr.platform.ray_node_state:
    container: cslr-platform-ray
    state_dir: /var/lib/cslr-platform/ray
  register: ray_live

- name: Say which head the running node follows
  ansible.builtin.debug:
    msg: "{{ ray_live.role }} of {{ ray_live.gcs_address }}"
  when: ray_live.running
"""

RETURN = r"""
running:
  description: Whether the container exists and runs.
  returned: always
  type: bool
  sample: true
container_state:
  description: Docker's state of the container (C(running), C(exited), ...), or an empty string when it does not exist.
  returned: always
  type: str
  sample: running
role:
  description: The role the running node decided (C(head) or C(worker)); empty when the file is missing or empty.
  returned: always
  type: str
  sample: worker
gcs_address:
  description: The GCS the node runs or joined (host:port); empty when the file is missing or empty.
  returned: always
  type: str
  sample: 10.0.0.1:6379
elected_head:
  description: The elected head Ansible recorded; empty when missing.
  returned: always
  type: str
  sample: node-1
candidates:
  description: The head candidates Ansible recorded; empty when missing.
  returned: always
  type: str
  sample: node-1=10.0.0.1,node-2=10.0.0.2
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cslr.platform.plugins.module_utils import _election


def container_state(module, name):
    """Docker's State.Status of the container, or '' when Docker or the container is not there."""
    docker = module.get_bin_path('docker')
    if not docker:
        return ''
    rc, out, err = module.run_command([docker, 'container', 'inspect', '--format', '{{json .State}}', name])
    if rc != 0:
        if 'no such' in (err or '').lower():
            return ''
        module.fail_json(msg='cannot read the container %s: docker container inspect exited with %d: %s'
                         % (name, rc, (err or out).strip()), rc=rc)
    try:
        state = json.loads(out)
        return 'running' if state.get('Running') else str(state.get('Status') or 'created')
    except (ValueError, AttributeError):
        module.fail_json(msg='cannot read the container %s: unexpected answer of docker: %s' % (name, out.strip()))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            container=dict(type='str', required=True),
            state_dir=dict(type='path', required=True),
        ),
        supports_check_mode=True,
    )
    status = container_state(module, module.params['container'])
    result = dict(changed=False, running=status == 'running', container_state=status)
    for name in _election.STATE_FILES:
        result[name] = _election.read_state(module.params['state_dir'], name) or ''
    module.exit_json(**result)


if __name__ == '__main__':
    main()
