#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of cslr.platform.import_config; the work is done by its action plugin."""

from __future__ import annotations

DOCUMENTATION = r'''
---
module: import_config
short_description: Convert a config.yaml of the original ws tool into a cslr.platform vars file
version_added: 0.1.0
description:
  - Reads a C(config.yaml) of the original single-host C(ws) tool on the controller and writes one YAML vars
    file with the corresponding C(cslr_) variables, usable as C(-e @DEST) or pasted into C(group_vars/all.yml).
  - Every key of the original model is either mapped or listed, with the reason or the per-host instruction,
    in the file header and in RV(dropped). Values are read as the original read them (C("4") is 4, C("yes") is
    true); the import refuses what the original refused (unknown top-level keys, bad values, an empty
    C(nodes.head_whitelist), a port used twice, its insecure database passwords), naming the original key and
    the C(cslr_) variable. Unknown keys inside a section (the original dropped them silently) are listed as
    ignored. A value the original accepted but this platform's checks refuse is imported, listed in the header
    and returned as a warning.
  - Values that differ per host or per group (a host's address, the GPU node's CPUs) are not written as
    variables (the file is used as extra vars, which override host_vars); the header says where to set them.
  - Refuses a C(nodes.yaml) next to C(config.yaml) with the original migration message.
  - Runs entirely on the controller.
author:
  - cslr.platform maintainers (@cslr-platform)
options:
  config:
    description: Path of the original config.yaml on the controller.
    type: path
    required: true
  dest:
    description: Path of the vars file to write on the controller (mode 0600, it may hold the database password).
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: In check mode nothing is written; RV(ignore:changed) tells whether the file would change.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: all
'''

EXAMPLES = r'''
- name: Import the original tool's configuration
  cslr.platform.import_config:
    config: /srv/ws/config.yaml
    dest: /srv/ws/imported.yml
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
dest:
  description: Absolute path of the written vars file.
  returned: success
  type: str
variables:
  description: Names of the variables written.
  returned: success
  type: list
  elements: str
dropped:
  description: 'Settings not imported, to set in the inventory, ignored, or failing this platform''s checks, as
    C(PATH = VALUE: REASON).'
  returned: success
  type: list
  elements: str
errors:
  description: Why the import was refused.
  returned: failure
  type: list
  elements: str
'''
