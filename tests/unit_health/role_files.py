# -*- coding: utf-8 -*-
"""Loads a program the health role ships (roles/health/files/NAME.py) as a module, for its tests."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = os.path.join(REPO, 'collections', 'ansible_collections', 'cslr', 'platform', 'roles', 'health', 'files')


def path(name):
    """The path of roles/health/files/<name>.py."""
    return os.path.join(FILES, name + '.py')


def load(name):
    """roles/health/files/<name>.py as a module named <name>."""
    spec = importlib.util.spec_from_file_location(name, path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
