#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of cslr.platform.validate_config; the work is done by its action plugin."""

from __future__ import annotations

DOCUMENTATION = r'''
---
module: validate_config
short_description: Validate the whole platform configuration on the controller
version_added: 0.1.0
description:
  - Reads the variables of B(every) host of the inventory groups C(cslr_cluster), C(cslr_ray_head_candidates),
    C(cslr_gpu_hosts) and C(cslr_mlflow_hosts) from C(hostvars), also under C(--limit), templates them,
    applies the documented defaults and runs every configuration rule.
  - Fails with all errors at once, one line each, naming the host(s), the variable, the bad value and the fix.
    Secret values (passwords) are shown as C(********).
  - Rules (see docs/configuration.md) - unknown or misspelled C(cslr_) variables with a did-you-mean
    suggestion, removed variables with their replacement, types (booleans and numbers written as strings),
    formats (CIDR, addresses, ports, memory sizes, images), required values, cluster-wide variables equal on
    every host, insecure passwords, per-host port conflicts among the services enabled on that host (Ray's
    pinned ports and worker range included), unique cluster addresses inside the cluster network, the
    inventory groups, one Ray and one Python version across hosts, Docker address pools against the cluster
    network, GPU services only on GPU hosts.
  - Runs entirely on the controller; it never connects to a host. Run it with C(run_once) and C(no_log),
    then print RV(error_lines) (they carry no secret), as the cslr.platform.validate playbook does.
author:
  - cslr.platform maintainers (@cslr-platform)
options: {}
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
    details: Changes nothing in any mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: all
notes:
  - The same rules, defaults and documentation come from one table, C(plugins/module_utils/_config_spec.py).
'''

EXAMPLES = r'''
- name: Validate the platform configuration of every cslr_cluster host
  cslr.platform.validate_config:
  run_once: true
  no_log: true
  register: __cslr_validate
  failed_when: false

- name: Report configuration errors
  ansible.builtin.fail:
    msg: "{{ __cslr_validate.error_lines }}"
  run_once: true
  when: __cslr_validate.error_lines | length > 0
'''

RETURN = r'''
msg:
  description: Summary, followed by one line per error.
  returned: always
  type: str
error_lines:
  description: 'One line per error, C([WHERE] VARIABLE = VALUE: MESSAGE. Fix: FIX). Secrets masked.'
  returned: always
  type: list
  elements: str
  sample:
    - '[all hosts] cslr_ray_memory = "8GB": Memory format must match pattern ^\d+[gmGM]$. Fix: write a whole number
      followed by g or m, e.g. "8g" or "8192m"'
errors:
  description: The errors as data.
  returned: always
  type: list
  elements: dict
  contains:
    hosts:
      description: Hosts the error concerns; empty for inventory-wide errors.
      type: list
      elements: str
    where:
      description: C(all hosts), C(inventory) or the host names.
      type: str
    variable:
      description: The variable (or group) at fault.
      type: str
    value:
      description: The bad value as JSON, secrets masked.
      type: str
    message:
      description: What is wrong.
      type: str
    fix:
      description: How to fix it.
      type: str
hosts:
  description: The hosts of cslr_cluster that were validated.
  returned: always
  type: list
  elements: str
'''
