"""Start MLflow's tracking server with its basic-auth app (the MLflow container's command).

    python3 cslr_mlflow_auth.py [mlflow server options...]

From the environment (the stack's root-only env file):
  MLFLOW_BACKEND_STORE_URI     MLflow's database (postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB)
  CSLR_MLFLOW_AUTH_DB          the database of MLflow's users, on the same server (created when missing)
  MLFLOW_AUTH_ADMIN_USERNAME   the admin user
  MLFLOW_AUTH_ADMIN_PASSWORD   its password

Before the server starts: the users' database exists, MLflow's auth configuration is written
to a root-only file inside the container (it holds the database and admin passwords, so it is
never a file on the host; MLflow 3.15 and older read the admin's password only from there) and
named by MLFLOW_AUTH_CONFIG_PATH, and an existing admin user gets the
configured password (MLflow itself only sets it when it creates the user: this is how the
platform rotates it), and the Flask secret key of the auth app's CSRF protection is set when the
environment has none (MLFLOW_FLASK_SERVER_SECRET_KEY: derived from the admin's password, so it
is the same in every worker and across restarts, and changes with the password). Then
`mlflow server --app-name basic-auth OPTIONS` replaces this process.
"""
import configparser
import hashlib
import hmac
import inspect
import os
import sys
from urllib.parse import unquote, urlsplit

CONFIG_PATH = '/tmp/cslr-mlflow-basic-auth.ini'


def auth_database_uri(backend_uri, auth_db):
    """The backend store URI with its database replaced by auth_db."""
    head = backend_uri.rpartition("/")[0]
    return head + '/' + auth_db


def ensure_database(backend_uri, auth_db):
    import psycopg2

    parts = urlsplit(backend_uri)
    conn = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=unquote(parts.username or ''),
                            password=unquote(parts.password or ''), dbname=parts.path.lstrip('/'))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('SELECT 1 FROM pg_database WHERE datname = %s', (auth_db,))
            if cur.fetchone() is None:
                # auth_db is a plain name (the validator's `name` format): safe to quote as an identifier.
                cur.execute('CREATE DATABASE "%s"' % auth_db.replace('"', ''))
                print('cslr: created the database %s for MLflow\'s users' % auth_db, flush=True)
    finally:
        conn.close()


def write_config(path, auth_uri, username, password):
    config = configparser.ConfigParser()
    config['mlflow'] = {
        'default_permission': 'READ',
        'database_uri': auth_uri,
        'admin_username': username,
        'admin_password': password,
        'authorization_function': 'mlflow.server.auth:authenticate_request_basic_auth',
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        config.write(handle)


def sync_admin_password(auth_uri, username, password):
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(auth_uri)
    # MLflow 3.17 reads users from a replica unless told otherwise (use_primary); older ones have
    # one database and no such argument (the platform also starts them: a rollback of an upgrade).
    primary = {'use_primary': True} if 'use_primary' in inspect.signature(store.has_user).parameters else {}
    if store.has_user(username, **primary) and not store.authenticate_user(username, password, **primary):
        store.update_user(username, password=password)
        print('cslr: set the configured password of MLflow\'s admin user %s' % username, flush=True)


def main(argv):
    backend = os.environ['MLFLOW_BACKEND_STORE_URI']
    auth_db = os.environ['CSLR_MLFLOW_AUTH_DB']
    username = os.environ['MLFLOW_AUTH_ADMIN_USERNAME']
    password = os.environ['MLFLOW_AUTH_ADMIN_PASSWORD']
    auth_uri = auth_database_uri(backend, auth_db)
    ensure_database(backend, auth_db)
    write_config(CONFIG_PATH, auth_uri, username, password)
    os.environ['MLFLOW_AUTH_CONFIG_PATH'] = CONFIG_PATH
    sync_admin_password(auth_uri, username, password)
    if not os.environ.get('MLFLOW_FLASK_SERVER_SECRET_KEY'):
        os.environ['MLFLOW_FLASK_SERVER_SECRET_KEY'] = hmac.new(
            password.encode(), b'cslr.platform mlflow flask secret key', hashlib.sha256).hexdigest()
    os.execvp('mlflow', ['mlflow', 'server', '--app-name', 'basic-auth'] + list(argv))


if __name__ == '__main__':
    main(sys.argv[1:])
