"""The MLflow container's start script (roles/mlflow/files/cslr_mlflow_auth.py) with the MLflow
versions it starts: 3.17 (the pinned one: a read replica, `use_primary`) and older 3.x ones (an
upgrade rolled back: one database, no `use_primary`, the admin's password read from the auth
configuration file only). MLflow's store is replaced by a recording fake; the real versions ran
once on PostgreSQL 17 (docs/operations.md, MLflow upgrades)."""
import configparser
import importlib.util
import os
import stat
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "collections", "ansible_collections", "cslr", "platform", "roles", "mlflow", "files",
                      "cslr_mlflow_auth.py")


def load_script():
    spec = importlib.util.spec_from_file_location("cslr_mlflow_auth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class NewStore:
    """MLflow 3.17's auth store: reads go to a replica unless use_primary."""
    users = {}
    calls = []

    def init_db(self, uri):
        self.calls.append(("init_db", uri))

    def has_user(self, username, use_primary=False):
        self.calls.append(("has_user", username, use_primary))
        return username in self.users

    def authenticate_user(self, username, password, use_primary=False):
        self.calls.append(("authenticate_user", username, use_primary))
        return self.users.get(username) == password

    def update_user(self, username, password=None):
        self.calls.append(("update_user", username))
        self.users[username] = password


class OldStore(NewStore):
    """MLflow 3.15's auth store: one database, no use_primary."""

    def has_user(self, username):
        self.calls.append(("has_user", username))
        return username in self.users

    def authenticate_user(self, username, password):
        self.calls.append(("authenticate_user", username))
        return self.users.get(username) == password


@pytest.fixture
def fake_mlflow(monkeypatch):
    def install(store_class):
        store_class.users = {"admin": "old-password-123"}
        store_class.calls = []
        module = types.ModuleType("mlflow.server.auth.sqlalchemy_store")
        module.SqlAlchemyStore = store_class
        for name in ("mlflow", "mlflow.server", "mlflow.server.auth"):
            monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
        monkeypatch.setitem(sys.modules, "mlflow.server.auth.sqlalchemy_store", module)
        return store_class
    return install


@pytest.mark.parametrize("store_class", [NewStore, OldStore], ids=["mlflow-3.17", "mlflow-3.15"])
def test_the_configured_admin_password_is_set_with_either_store(fake_mlflow, store_class):
    store = fake_mlflow(store_class)
    load_script().sync_admin_password("postgresql://db/auth", "admin", "new-password-456")
    assert store.users == {"admin": "new-password-456"}
    primary = [c[-1] for c in store.calls if c[0] in ("has_user", "authenticate_user")]
    assert primary == ([True, True] if store_class is NewStore else ["admin", "admin"]), store.calls


def test_a_password_already_set_is_left_alone(fake_mlflow):
    store = fake_mlflow(OldStore)
    load_script().sync_admin_password("postgresql://db/auth", "admin", "old-password-123")
    assert ("update_user", "admin") not in store.calls


def test_the_auth_configuration_holds_the_admin_and_is_root_only(tmp_path):
    path = str(tmp_path / "basic-auth.ini")
    load_script().write_config(path, "postgresql+psycopg2://u:p@h:5432/mlflow_auth", "admin", "s3cret-password")
    config = configparser.ConfigParser()
    config.read(path)
    assert dict(config["mlflow"]) == {
        "default_permission": "READ",
        "database_uri": "postgresql+psycopg2://u:p@h:5432/mlflow_auth",
        "admin_username": "admin",
        "admin_password": "s3cret-password",
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
    }
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
