# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the cslr.platform collection. Not a public API: names and shapes may
# change in any release without notice. Import it only from this collection's own
# plugins and from scripts/gen_config.py.
#
# THE single source of truth for the platform's configuration variables. From this
# table are generated (scripts/gen_config.py): every role's defaults/main.yml and
# meta/argument_specs.yml, docs/configuration.md and docs/config.schema.json. The
# validator (_validate.py) applies the same defaults and constraints. Edit here,
# then run `python scripts/gen_config.py`; `--check` (run by the tests) fails on
# stale generated files.
#
# Plain data, no Ansible imports: usable from the controller, tests and scripts.

from __future__ import annotations

# Groups of the inventory the platform reads (not variables, documented with them).
GROUP_CLUSTER = 'cslr_cluster'
GROUP_HEAD_CANDIDATES = 'cslr_ray_head_candidates'
GROUP_GPU = 'cslr_gpu_hosts'
GROUP_MLFLOW = 'cslr_mlflow_hosts'
GROUP_RENDEZVOUS = 'cslr_rendezvous_hosts'
GROUP_MONITORING = 'cslr_monitoring_hosts'

GROUPS = (
    (GROUP_CLUSTER, 'Every platform host. Each one runs the health service and, unless `cslr_ray_enabled` is false '
                    'for it, a Ray node.'),
    (GROUP_HEAD_CANDIDATES, 'Hosts that may become the Ray head, in priority order (inventory order). Must not be '
                            'empty (the original `nodes.head_whitelist`).'),
    (GROUP_GPU, 'Hosts with NVIDIA GPUs. Only these run the GPU Ray image or give GPUs to a service.'),
    (GROUP_MLFLOW, 'Exactly one host when MLflow is enabled: it runs MLflow and its PostgreSQL.'),
    (GROUP_RENDEZVOUS, 'One or three hosts when `cslr_rendezvous_enabled`: they run etcd for PyTorch elastic '
                       'rendezvous (three form one etcd cluster that survives the loss of one member).'),
)

# Owners: the role that uses a variable. A variable whose owner role has no
# tasks/main.yml (yet) is carried by the internal `config` role instead.
OWNERS = ('config', 'hosts_file', 'docker', 'firewall', 'nvidia', 'images', 'ray', 'health', 'mlflow', 'postgres', 'redis', 'marimo',
          'rendezvous', 'training', 'monitoring')

# Insecure database passwords: common defaults, and the original tool's example/default
# values (its shipped example failed its own check with one of these).
INSECURE_PASSWORDS = (
    'password', 'passw0rd', 'changeme', 'change_me', 'change-me', 'changeit', 'mlflow', 'postgres',
    'admin', 'root', 'secret', 'default', 'example', 'test', '123456', '12345678', 'qwerty',
    'letmein', 'your_password', 'your-password', 'yourpassword', 'mlflow_password', 'mlflowpassword',
    'postgres_password', 'mypassword', 'replace_me', 'replaceme', 'xxx', 'todo',
)
MIN_PASSWORD_LENGTH = 12


class Var(object):
    """One configuration variable."""

    __slots__ = ('name', 'type', 'default', 'description', 'owner', 'scope', 'elements', 'choices',
                 'minimum', 'maximum', 'fmt', 'secret', 'nullable', 'required', 'keys', 'example')

    def __init__(self, name, type, default, description, owner, scope='global', elements=None,
                 choices=None, minimum=None, maximum=None, fmt=None, secret=False, nullable=False,
                 required=False, keys=None, example=None):
        self.name = name
        self.type = type            # bool | int | float | str | list | dict
        self.default = default
        self.description = description
        self.owner = owner
        self.scope = scope          # global: same value on every host; host: may differ per host
        self.elements = elements    # list element type (str | dict)
        self.choices = choices
        self.minimum = minimum
        self.maximum = maximum
        self.fmt = fmt              # see FORMATS
        self.secret = secret
        self.nullable = nullable    # null is a meaningful value (or: unset, see required)
        self.required = required    # must be set to a non-null value (when its feature is on)
        self.keys = keys            # for list-of-dict: {key: Var-like dict}
        self.example = example


# Formats a str (or list element) may have; the validator implements each.
FORMATS = {
    'cidr': 'an IPv4 network in CIDR notation with no host bits set, e.g. 10.213.0.0/24',
    'ipv4': 'an IPv4 address, e.g. 10.213.0.11',
    'port': 'a TCP port between 1024 and 65535',
    'memory': r'a size matching ^\d+[gmGM]$ and greater than 0, e.g. 8g or 512m',
    'image': 'a container image reference with an explicit tag, e.g. postgres:17',
    'version': 'a version X.Y.Z, e.g. 2.60.0',
    'python_version': 'a Python version 3.N, e.g. 3.11',
    'name': 'lower-case letters, digits, - and _, starting with a letter or digit',
    'address': 'a host name or IPv4 address, optionally followed by :PORT',
    'path': 'an absolute path',
    'hostname': 'a DNS host name',
    'mode': 'an octal file mode, quoted, e.g. "0770"',
    'size': 'a size: a whole number followed by m, g or t, e.g. 500g or 2t',
    's3_uri': 'an S3 URI s3://BUCKET or s3://BUCKET/PREFIX',
    'duration': 'a duration: a whole number followed by s, m, h, d, w or y, e.g. 15d or 30s',
}
FORMAT_PATTERNS = {
    'cidr': r'^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$',
    'ipv4': r'^\d{1,3}(\.\d{1,3}){3}$',
    'memory': r'^\d+[gmGM]$',
    'version': r'^\d+\.\d+\.\d+$',
    'python_version': r'^3\.\d+$',
    'name': r'^[a-z0-9][a-z0-9_-]*$',
    'address': r'^[A-Za-z0-9.-]+(:\d+)?$',
    'path': r'^/',
    'hostname': r'^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$',
    'mode': r'^0?[0-7]{3,4}$',
    'size': r'^\d+[mgtMGT]$',
    's3_uri': r'^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$',
    'duration': r'^[1-9]\d*[smhdwy]$',
}

# Ray's public images carry both versions in the tag (2.60.0-py311[-gpu]); local images
# (cslr-lab/ray:2.60.0) carry at least the Ray version. cslr_ray_version and
# cslr_ray_python_version declare both for the whole cluster; every Ray image in use must
# agree with them (see _validate.check_ray_versions).
RAY_VERSION = '2.60.0'
RAY_PYTHON_VERSION = '3.11'

_PORT = dict(type='int', fmt='port', minimum=1024, maximum=65535)

VARIABLES = (
    # ------------------------------------------------------------------ config (global)
    Var('cslr_project_name', 'str', 'cslr', 'Name prefix of the Compose projects, containers and volumes on every '
        'host (the original `project.name`).', 'config', fmt='name'),
    Var('cslr_base_dir', 'str', '/opt/cslr-platform', 'Directory on every host holding the rendered Compose projects '
        'and their bind-mounted files.', 'config', fmt='path'),
    Var('cslr_secrets_dir', 'str', '~/.cslr-platform/secrets', 'Directory on the controller that keeps the '
        'secrets the platform generates when none is set (the Ray token): created mode 0700, one file per cluster '
        '(`cslr_project_name`) and secret, mode 0600, reused by every later run. Under AWX the job\'s filesystem is '
        'thrown away: set the secrets themselves (a vault or credential) instead.', 'config'),
    Var('cslr_cluster_network', 'str', None, 'The cluster LAN in CIDR notation (replaces the original '
        '`network.subnet`, which was a Docker bridge that cannot span hosts). Every `cslr_cluster_address` must lie '
        'inside it; the firewall opens Ray ports to it only.', 'config', fmt='cidr', nullable=True, required=True,
        example='10.213.0.0/24'),
    Var('cslr_cluster_address', 'str', None, 'Per host: the host\'s IPv4 address on the cluster LAN. Ray runs '
        'with `--node-ip-address` set to it; /etc/hosts lists it. Unique across hosts.', 'config', scope='host',
        fmt='ipv4', nullable=True, required=True, example='10.213.0.11'),
    Var('cslr_admin_networks', 'list', [], 'Networks (CIDR), besides the cluster network, allowed to reach the '
        'user-facing ports: MLflow, health, Ray dashboard and client server, Marimo, Redis. Empty: cluster network '
        'only.', 'config', elements='str', fmt='cidr'),
    Var('cslr_stack_wait_timeout', 'int', 300, 'Seconds a stack may take to become healthy after '
        '`docker compose up` before the run fails (pulling images is not included).', 'config', minimum=10,
        maximum=3600),
    Var('cslr_teardown_delete_data', 'bool', False, '`playbooks/teardown.yml` only: also delete the stacks\' '
        'Docker volumes and data directories (MLflow runs and artifacts, Redis data). Needs '
        '`cslr_teardown_confirm`; the run lists what it will delete on every host first, takes an MLflow backup '
        '(`cslr_teardown_backup`), then lists what it deleted; without it teardown keeps all data.', 'config'),
    Var('cslr_teardown_confirm', 'str', None, '`playbooks/teardown.yml` only: the confirmation data deletion needs: '
        'the cluster\'s name, `cslr_project_name`, typed out (e.g. `-e cslr_teardown_confirm=cslr`). Anything else '
        'stops the run before anything is stopped or deleted.', 'config', nullable=True),
    Var('cslr_teardown_backup', 'bool', True, '`playbooks/teardown.yml` only: with `cslr_teardown_delete_data`, '
        'dump MLflow\'s database (as `playbooks/mlflow_backup.yml`, to `cslr_mlflow_backup_dir`) before the MLflow '
        'stack and its volumes are deleted; a failed backup stops the teardown. false: delete without a backup.',
        'config'),
    Var('cslr_teardown_stacks', 'list', ['monitoring', 'exporters', 'marimo', 'redis', 'rendezvous', 'mlflow',
                                         'ray', 'health'],
        '`playbooks/teardown.yml` only: the stacks to stop.', 'config', elements='str',
        choices=['monitoring', 'exporters', 'marimo', 'redis', 'rendezvous', 'mlflow', 'ray', 'health']),
    Var('cslr_logs_service', 'str', 'ray', '`playbooks/logs.yml` only: the stack whose containers\' last log '
        'lines to show (the original `ws logs SERVICE`).', 'config',
        choices=['health', 'ray', 'mlflow', 'redis', 'marimo', 'rendezvous', 'monitoring', 'exporters']),
    Var('cslr_logs_lines', 'int', 50, '`playbooks/logs.yml` only: how many of the last lines of each container.',
        'config', minimum=1, maximum=10000),
    Var('cslr_smoke_test_client', 'str', 'auto', '`playbooks/smoke_test.yml` only: how the controller opens its '
        '`ray://` client session to the head: `docker` runs the Ray image there (`docker run` with '
        '`cslr_smoke_test_client_docker_args`); `auto`: the same when the controller has `docker`, else the check is '
        'reported as not run; `none`: not run.', 'config', choices=['auto', 'docker', 'none']),
    Var('cslr_smoke_test_client_docker_args', 'list', ['--network', 'host'], '`playbooks/smoke_test.yml` only: '
        'the `docker run` options of the client session container, e.g. its network and an address of '
        '`cslr_admin_networks` (the lab: `--network cslr-mol --ip 10.213.1.230`).', 'config', elements='str'),
    Var('cslr_head_address', 'str', None, 'Explicit Ray head address (`HOST` or `HOST:PORT`, the original '
        '`nodes.head_address`). null: the head is elected among `cslr_ray_head_candidates`.', 'ray', fmt='address',
        nullable=True),
    # ------------------------------------------------------------------ hosts_file
    Var('cslr_hosts_file_path', 'str', '/etc/hosts', 'Hosts file that receives the block of cluster hosts.',
        'hosts_file', fmt='path'),
    Var('cslr_hosts_file_extra_aliases', 'dict', {}, 'Extra names per inventory host: `{host: [name, ...]}`, '
        'written next to the inventory name on that host\'s line.', 'hosts_file', elements='list'),
    # ------------------------------------------------------------------ docker
    Var('cslr_docker_install_source', 'str', 'distro', 'Where Docker Engine and Compose v2 come from: the '
        'distribution\'s packages (Debian 13, Ubuntu 24.04) or Docker\'s apt repository.', 'docker',
        choices=['distro', 'docker_repo']),
    Var('cslr_docker_repo_url', 'str', 'https://download.docker.com/linux', 'Base URL of Docker\'s apt '
        'repository (with `cslr_docker_install_source: docker_repo`); point it at a mirror when air-gapped.',
        'docker'),
    Var('cslr_docker_daemon_options', 'dict', {}, 'Extra daemon.json keys, merged into the existing file (the '
        'NVIDIA runtime and other keys already there are kept).', 'docker'),
    Var('cslr_docker_log_max_size', 'str', '100m', 'json-file log driver: size of one log file before rotation.',
        'docker', fmt='memory'),
    Var('cslr_docker_log_max_file', 'int', 3, 'json-file log driver: rotated log files kept per container.',
        'docker', minimum=1, maximum=100),
    Var('cslr_docker_live_restore', 'bool', True, 'Keep containers running while dockerd restarts.', 'docker'),
    Var('cslr_docker_address_pools', 'list', [{'base': '172.24.0.0/14', 'size': 24}], 'daemon.json '
        '`default-address-pools` for Compose networks. The default 172.24.0.0/14 (1024 /24 networks) avoids '
        'Docker\'s own 172.17.0.0/16, the 192.168.0.0/16 of home/office LANs and 10.0.0.0/8; it must not overlap '
        'the cluster network or an admin network.', 'docker', elements='dict',
        keys={'base': dict(type='str', fmt='cidr', required=True,
                           description='network the pool carves networks from'),
              'size': dict(type='int', minimum=1, maximum=32, required=True,
                           description='prefix length of each network')}),
    Var('cslr_docker_apt_lock_timeout', 'int', 300, 'Seconds apt waits for the dpkg lock (unattended-upgrades).',
        'docker', minimum=0, maximum=3600),
    # ------------------------------------------------------------------ firewall
    Var('cslr_firewall_enabled', 'bool', True, 'Manage ufw on every cluster host: default deny incoming, Ray\'s '
        'pinned ports open to the cluster hosts\' addresses only, user-facing ports to them and '
        '`cslr_admin_networks`, and ports published by Docker restricted the same way (DOCKER-USER).',
        'firewall'),
    Var('cslr_firewall_ssh_port', 'int', 22, 'SSH port, allowed before ufw is enabled so the controller is never '
        'locked out.', 'firewall', minimum=1, maximum=65535),
    Var('cslr_firewall_ssh_sources', 'list', ['any'], 'Sources allowed to reach SSH: `any` or networks in CIDR '
        'notation.', 'firewall', elements='str'),
    Var('cslr_firewall_docker_user_rules', 'bool', True, 'Restrict traffic into Docker\'s containers (which '
        'bypasses ufw\'s INPUT rules): published ports only from the cluster hosts and `cslr_admin_networks`, '
        'nothing routed straight to a container address, the host\'s own containers free to talk out; '
        'DOCKER-USER blocks in /etc/ufw/after.rules and after6.rules.', 'firewall'),
    # ------------------------------------------------------------------ nvidia
    Var('cslr_nvidia_toolkit_source', 'str', 'repo', 'Where the NVIDIA container toolkit comes from on '
        '`cslr_gpu_hosts`: NVIDIA\'s apt repository, or `.deb` files in `cslr_nvidia_toolkit_debs_dir` on the '
        'controller (offline labs).', 'nvidia', choices=['repo', 'debs']),
    Var('cslr_nvidia_toolkit_repo_url', 'str', 'https://nvidia.github.io/libnvidia-container/stable/deb',
        'NVIDIA container toolkit apt repository (a mirror of it when air-gapped).', 'nvidia'),
    Var('cslr_nvidia_toolkit_gpg_url', 'str', 'https://nvidia.github.io/libnvidia-container/gpgkey',
        'Signing key of that repository.', 'nvidia'),
    Var('cslr_nvidia_toolkit_debs_dir', 'str', None, 'Directory on the controller holding the toolkit `.deb` '
        'files (with `cslr_nvidia_toolkit_source: debs`).', 'nvidia', fmt='path', nullable=True),
    Var('cslr_nvidia_required_cuda', 'str', None, 'CUDA version (X.Y) the GPU images need; the driver must '
        'support it. null: read from the GPU image tag (`-cu128` -> 12.8) when it has one.', 'nvidia',
        nullable=True),
    Var('cslr_nvidia_verify', 'bool', True, 'On GPU hosts, start a container with the nvidia runtime and check it '
        'sees every GPU.', 'nvidia'),
    # ------------------------------------------------------------------ images
    Var('cslr_images_source', 'str', 'pull', 'How hosts get their images: `pull` from a registry, or `archive`: '
        'saved once on the controller, copied and loaded only where the image ID is missing (air-gapped labs; '
        'the local lab uses it).', 'images', choices=['pull', 'archive']),
    Var('cslr_images_archive_dir', 'str', "{{ lookup('ansible.builtin.env', 'HOME') }}/.cache/cslr-platform/images",
        'Controller directory holding the image archives (`archive` mode).', 'images'),
    Var('cslr_images_host_dir', 'str', '/var/cache/cslr-platform/images', 'Directory on hosts where archives '
        'are copied before loading (removed after loading).', 'images', fmt='path'),
    Var('cslr_images_extra', 'list', [], 'Additional images every host gets (e.g. job images).', 'images',
        elements='str', fmt='image'),
    Var('cslr_images_build', 'list', [], 'Custom images (the original `ws up --build`), built on the controller '
        'before any host gets its images, then delivered like the stock ones: pushed to `cslr_images_registry_url` '
        '(`pull` mode: `image` must start with it) or saved into the archives (`archive` mode). An image used as '
        '`cslr_ray_image`/`cslr_ray_gpu_image` must hold `cslr_ray_version` on `cslr_ray_python_version`: checked '
        'after the build, before any host changes. Give each new build a new tag (hosts pull a tag once).',
        'images', elements='dict',
        keys={'image': dict(type='str', fmt='image', required=True,
                            description='the reference to build, with its tag'),
              'context': dict(type='str', fmt='path', required=True,
                              description='build context: a directory on the controller'),
              'dockerfile': dict(type='str', required=False,
                                 description='Dockerfile, relative to the context (default Dockerfile)'),
              'target': dict(type='str', required=False, description='build stage to stop at'),
              'args': dict(type='dict', required=False, description='build arguments (ARG)')},
        example=[{'image': 'registry.lab.example:5000/lab/ray-torch:2.60.0-1', 'context': '/srv/lab/images/ray-torch',
                  'args': {'BASE_IMAGE': 'rayproject/ray:2.60.0-py311'}}]),
    Var('cslr_images_registry_url', 'str', None, 'Registry to log in to before pulling (`pull` mode), as '
        '`HOST[:PORT]` (the prefix of the image references it serves, e.g. `registry.lab.example:5000`). A wrong '
        'login stops the run before any stack changes. null: no login (public images).', 'images', nullable=True),
    Var('cslr_images_registry_username', 'str', None, 'Registry user name (with `cslr_images_registry_url`).',
        'images', nullable=True),
    Var('cslr_images_registry_password', 'str', None, 'Registry password (keep it in a vault).', 'images',
        nullable=True, secret=True),
    Var('cslr_images_registry_ca_cert', 'str', None, 'PEM certificate of the CA that signed the registry\'s TLS '
        'certificate, when it is not a public CA: installed as `/etc/docker/certs.d/<registry>/ca.crt` on every '
        'host, so Docker verifies the registry (no `insecure-registries`). null: the system\'s CAs.', 'images',
        nullable=True),
    # ------------------------------------------------------------------ ray
    Var('cslr_ray_enabled', 'bool', True, 'Run a Ray node on this host. Every head candidate must have it.',
        'ray', scope='host'),
    Var('cslr_ray_version', 'str', RAY_VERSION, 'The one Ray version of the cluster. Every Ray image tag must '
        'start with it (`2.60.0`, `2.60.0-py311`, `2.60.0-py311-gpu`).', 'ray', fmt='version'),
    Var('cslr_ray_python_version', 'str', RAY_PYTHON_VERSION, 'The one Python version of the cluster\'s Ray '
        'images (Ray refuses nodes with another Python). An image tag with `-pyXY` must match it; for images '
        'without it (local builds) it is the declared version.', 'ray', fmt='python_version'),
    Var('cslr_ray_image', 'str', 'rayproject/ray:' + RAY_VERSION + '-py311', 'Ray image on hosts outside '
        '`cslr_gpu_hosts`. May be set per host, but must carry the same Ray/Python version.', 'ray', scope='host',
        fmt='image'),
    Var('cslr_ray_gpu_image', 'str', 'rayproject/ray:' + RAY_VERSION + '-py311-gpu', 'Ray image on '
        '`cslr_gpu_hosts` (CUDA inside).', 'ray', scope='host', fmt='image'),
    Var('cslr_ray_cpus', 'int', None, 'CPUs Ray may schedule on this host (`--num-cpus`, a whole number). '
        'null: all of them.', 'ray', scope='host', minimum=1, nullable=True),
    Var('cslr_ray_cpu_limit', 'float', None, 'CPU limit of the Ray container (Docker `cpus`, e.g. 2.5: at most '
        'that much CPU time). The original node block\'s `cpus` was both this limit and Ray\'s CPU count. null: no '
        'limit.', 'ray', scope='host', minimum=0.01, nullable=True),
    Var('cslr_ray_num_gpus', 'int', None, 'GPUs Ray may schedule on this host (`--num-gpus`). null: every GPU on '
        'a GPU host, 0 elsewhere. Above 0 only on `cslr_gpu_hosts`.', 'ray', scope='host', minimum=0,
        nullable=True),
    Var('cslr_ray_memory', 'str', None, 'Memory limit of the Ray container (`8g`, `8192m`). null: no limit.',
        'ray', scope='host', fmt='memory', nullable=True),
    Var('cslr_ray_shm_size', 'str', None, 'Size of /dev/shm in the Ray container (Ray\'s object store lives '
        'there). null: 30% of `cslr_ray_memory`, or of the host\'s memory when that is null (Ray\'s own object '
        'store default).', 'ray', scope='host', fmt='memory', nullable=True),
    Var('cslr_ray_log_dir', 'str', '/var/log/cslr-platform/ray', 'Host directory that keeps Ray\'s logs and '
        'session files across container restarts: root-only (0700); Ray\'s temp directory is its `tmp` '
        '(mounted at /tmp/ray), which Ray makes world-writable at every start.', 'config', fmt='path'),
    Var('cslr_ray_sessions_keep', 'int', 5, 'Ray session directories (with their logs) kept in '
        '`cslr_ray_log_dir/tmp`: every start of the head makes a new session, which the workers join. When the '
        'Ray container starts, before Ray does, it removes the oldest beyond this count, so the session it '
        'starts or joins and at most this many others remain. 0: none of the earlier ones (on a worker also the '
        'logs of the run that just ended). null: keep all (the directory grows with every restart).', 'ray',
        scope='host', minimum=0, nullable=True),
    Var('cslr_ray_gcs_port', **dict(_PORT, default=6379, description='Ray GCS port of the head (the original '
                                    '`head_port`); workers connect to it.', owner='ray')),
    Var('cslr_ray_client_server_port', **dict(_PORT, default=10001, description='Ray client server port of the '
                                              'head (`ray://HOST:PORT`, the original `client_port`).',
                                              owner='ray')),
    Var('cslr_ray_dashboard_port', **dict(_PORT, default=8265, description='Ray dashboard port of the head.',
                                          owner='ray')),
    Var('cslr_ray_node_manager_port', **dict(_PORT, default=6800, description='Raylet node manager port, every '
                                             'node.', owner='ray')),
    Var('cslr_ray_object_manager_port', **dict(_PORT, default=6801, description='Object manager port, every '
                                               'node.', owner='ray')),
    Var('cslr_ray_dashboard_agent_grpc_port', **dict(_PORT, default=6802, description='Dashboard agent gRPC '
                                                     'port, every node.', owner='ray')),
    Var('cslr_ray_runtime_env_agent_port', **dict(_PORT, default=6803, description='Runtime env agent port, '
                                                  'every node.', owner='ray')),
    Var('cslr_ray_metrics_export_port', **dict(_PORT, default=6804, description='Prometheus metrics export '
                                               'port, every node.', owner='ray')),
    Var('cslr_ray_dashboard_agent_http_port', **dict(_PORT, default=52365, description='Dashboard agent HTTP '
                                                     'port, every node.', owner='ray')),
    Var('cslr_ray_min_worker_port', **dict(_PORT, default=11000, description='First port of the worker port '
                                           'range, every node.', owner='ray')),
    Var('cslr_ray_max_worker_port', **dict(_PORT, default=11999, description='Last port of the worker port '
                                           'range, every node (at least the min).', owner='ray')),
    Var('cslr_ray_discovery_timeout', 'int', 5, 'Seconds a starting node spends looking for a running head (the '
        'original `nodes.cluster.discovery_timeout`).', 'ray', minimum=1, maximum=300),
    Var('cslr_ray_wait_for_head', 'int', 30, 'Longest pause, in seconds, between the probes of a Ray node '
        'waiting for a head (about 1 s during its first minute of waiting, then doubling from 1 s up to it). A '
        'node never gives up waiting, so a worker '
        'rejoins by itself after a failover; the original `nodes.cluster.wait_for_head` gave up after this many '
        'seconds.', 'ray', minimum=1, maximum=3600),
    Var('cslr_ray_resolve_split_brain', 'bool', False, 'When the election finds more than one live Ray head '
        '(split brain), keep the head with the most nodes (ties: candidate order) and restart the other heads as '
        'workers, instead of failing and naming them. Jobs on the restarted heads are lost.', 'ray'),
    Var('cslr_ray_auth_mode', 'str', 'token', 'Ray token authentication (`RAY_AUTH_MODE`): `token` makes every '
        'client of the cluster (the dashboard and its Jobs API, the client server, a node joining, `ray` commands) '
        'show the cluster token; `disabled` lets anyone who reaches those ports run code as root on every Ray host '
        '(the validator warns).', 'ray', choices=['token', 'disabled']),
    Var('cslr_ray_auth_token', 'str', None, 'The cluster\'s Ray token (at least 32 characters: letters, digits, '
        '`-` and `_`), in a root-only file on every Ray host. null: generated once on the controller '
        '(`cslr_secrets_dir`) and reused. A new value rotates it: the Ray nodes restart, head first. Keep it in '
        'Ansible Vault.', 'ray', secret=True, nullable=True),
    Var('cslr_ray_worker_serial', 'int', 0, 'Ray workers `site.yml` starts (or restarts) at a time: 0 starts every '
        'worker of the run at once, after the head; N starts them N at a time, each batch joined to the head before '
        'the next one starts (spreads the load of image start-up on a shared network or disk).', 'ray', minimum=0,
        maximum=1000),
    Var('cslr_rolling_update_serial', 'int', 1, '`playbooks/rolling_update.yml` only: Ray workers updated per '
        'batch (the play\'s `serial`). Play keywords cannot read inventory variables: give it as an extra variable '
        '(`-e`, an AWX survey).', 'config', minimum=1, maximum=1000),
    Var('cslr_rolling_update_max_fail_percentage', 'int', 0, '`playbooks/rolling_update.yml` only: percentage '
        'of a batch that may fail before the update stops (0: any failure stops it). An extra variable, like '
        '`cslr_rolling_update_serial`.', 'config', minimum=0,
        maximum=100),
    Var('cslr_rolling_update_wait', 'int', 300, '`playbooks/rolling_update.yml` only: seconds the cluster may '
        'take to show every expected node alive after a batch (workers of a restarted head rejoin on their own, '
        'after Ray\'s GCS reconnect timeout of 60 s).', 'config', minimum=30, maximum=3600),
    # ------------------------------------------------------------------ health
    Var('cslr_health_enabled', 'bool', True, 'Run the health service on every cluster host: JSON status of the '
        'host (stacks, containers, Ray role, GPUs) read by `playbooks/status.yml` and by monitoring. The Ray head '
        'election does not depend on it (it probes Ray itself).', 'health'),
    Var('cslr_health_image', 'str', 'python:3.13-slim', 'Image of the health service.', 'health', fmt='image'),
    Var('cslr_health_port', **dict(_PORT, default=8888, description='Port of the health service on every host.',
                                   owner='health')),
    Var('cslr_health_timeout', 'float', 1, 'Seconds one request of `playbooks/status.yml` to a host\'s health '
        'service may take, rounded up to whole seconds (the original `nodes.health_service.timeout`).', 'health', minimum=0.1, maximum=60),
    Var('cslr_health_max_retries', 'int', 3, 'Retries of a failed health request of `playbooks/status.yml` '
        '(the original `nodes.health_service.max_retries`).', 'health', minimum=0, maximum=100),
    Var('cslr_health_retry_interval', 'float', 2, 'Seconds between the health retries of `playbooks/status.yml` '
        '(the original `nodes.health_service.retry_interval`).', 'health', minimum=0.1, maximum=60),
    # ------------------------------------------------------------------ mlflow
    Var('cslr_mlflow_enabled', 'bool', True, 'Run MLflow (and its PostgreSQL) on the one host of '
        '`cslr_mlflow_hosts`.', 'mlflow'),
    Var('cslr_mlflow_image', 'str', 'ghcr.io/mlflow/mlflow:v3.17.2-full', 'MLflow image. It must contain '
        'psycopg2 (the backend store URI is `postgresql+psycopg2://`): MLflow\'s `-full` images (3.9 and later) '
        'do, the plain `vX.Y.Z` ones do not (build one FROM them with `psycopg2-binary`, as the lab image does).',
        'mlflow', fmt='image'),
    Var('cslr_mlflow_port', **dict(_PORT, default=5000, description='MLflow tracking server port.',
                                   owner='mlflow')),
    Var('cslr_mlflow_allowed_hosts', 'list', [], 'Extra names clients use in the Host header (MLflow >= 3.5 '
        'rejects others); the MLflow host\'s inventory name and cluster address are always allowed.', 'mlflow',
        elements='str'),
    Var('cslr_mlflow_workers', 'int', 4, 'Worker processes of the MLflow server (`--workers`).', 'mlflow',
        minimum=1, maximum=64),
    Var('cslr_mlflow_backup_dir', 'str', "{{ lookup('ansible.builtin.env', 'HOME') }}/cslr-platform-backups",
        'Directory on the controller where `playbooks/mlflow_backup.yml` stores database dumps '
        '(`mlflow-<host>-<UTC timestamp>.dump`) when `cslr_mlflow_backup_target` is `controller`. Under AWX '
        'the job\'s home directory is thrown away with its execution environment: use a path of a volume '
        'mounted into it, or the `host` target (a backup job refuses the home directory there).', 'mlflow'),
    Var('cslr_mlflow_backup_target', 'str', 'controller', 'Where MLflow backups are kept: `controller` '
        '(`cslr_mlflow_backup_dir`, fetched from the MLflow host) or `host` (`cslr_mlflow_backup_host_dir` on the '
        'MLflow host itself; survives AWX jobs, and is where the scheduled backup writes).', 'mlflow',
        choices=['controller', 'host']),
    Var('cslr_mlflow_backup_host_dir', 'str', '/var/backups/cslr-platform/mlflow', 'Directory on the MLflow host '
        'for backups of the `host` target and of the scheduled backup (root-only, 0700).', 'mlflow', fmt='path'),
    Var('cslr_mlflow_backup_keep', 'int', None, 'Keep the newest N dumps of the MLflow host in the backup '
        'directory of the target (and of the scheduled backup) and delete older ones after each backup. null: '
        'keep every dump.', 'mlflow', minimum=1, nullable=True),
    Var('cslr_mlflow_backup_schedule', 'str', None, 'A scheduled backup on the MLflow host: a systemd timer '
        '(`cslr-mlflow-backup.timer`, `OnCalendar=` syntax, e.g. `daily` or `*-*-* 03:00:00`) that dumps the '
        'database to `cslr_mlflow_backup_host_dir`, keeping `cslr_mlflow_backup_keep`. null: none (or an AWX '
        'schedule of the MLflow backup template).', 'mlflow', nullable=True),
    Var('cslr_mlflow_restore_file', 'str', None, '`playbooks/mlflow_restore.yml` only: the dump on the controller '
        'to restore (a file written by `mlflow_backup.yml`). It replaces the MLflow database, after a backup of '
        'it.', 'mlflow', nullable=True),
    Var('cslr_mlflow_restore_confirm_loss', 'bool', False, '`playbooks/mlflow_restore.yml` only: restore a dump '
        'even though the current database holds runs the dump lacks (logged after it was taken; the run says '
        'how many). They are in the backup the restore takes first.', 'mlflow'),
    Var('cslr_mlflow_memory', 'str', None, 'Memory limit of the MLflow container. null: no limit.', 'mlflow',
        fmt='memory', nullable=True),
    Var('cslr_mlflow_auth_enabled', 'bool', True, 'MLflow\'s basic-auth app: every API call and the UI ask for '
        'a user (`/health` excepted). The admin user (`cslr_mlflow_admin_username`, `cslr_mlflow_admin_password`) '
        'is created at the first start and its password set from the configuration at every start; users live in '
        'their own database (`cslr_mlflow_auth_db`) on the same PostgreSQL. The Ray containers get the admin\'s '
        'credentials (`MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD`, a root-only env file), so jobs log as '
        'before. false: anyone who reaches MLflow\'s port reads and writes every experiment (the validator warns).',
        'mlflow'),
    Var('cslr_mlflow_admin_username', 'str', 'admin', 'MLflow\'s admin user (basic auth).', 'mlflow', fmt='name'),
    Var('cslr_mlflow_admin_password', 'str', None, 'Password of MLflow\'s admin user: required while MLflow and '
        'its authentication are enabled, at least 12 characters and not a well-known default. Keep it in Ansible '
        'Vault. A new value is set at the next start of the MLflow container (the run restarts it).', 'mlflow',
        secret=True, nullable=True),
    Var('cslr_mlflow_auth_db', 'str', 'mlflow_auth', 'PostgreSQL database of MLflow\'s users and permissions '
        '(created when missing, next to MLflow\'s own).', 'mlflow', fmt='name'),
    # ------------------------------------------------------------------ postgres
    Var('cslr_postgres_image', 'str', 'postgres:17', 'PostgreSQL image of MLflow\'s backend store.', 'postgres',
        fmt='image'),
    Var('cslr_postgres_major_upgrade', 'bool', False, 'What a `cslr_postgres_image` of another PostgreSQL major '
        'version than the data in the database volume does (a server refuses the data directory of another major). '
        'false: the run stops before any container changes, naming both versions. true: the MLflow host upgrades: '
        'every database is dumped with the old server (kept beside the backups), the old data is moved to the volume '
        '`<project>-mlflow-postgres-pg<old major>` (kept until you remove it), the new server starts on an empty '
        'volume and the dumps are restored into it, and the run checks every MLflow run is there. The official '
        'images\' data layouts are both handled (`/var/lib/postgresql/data` up to 17, `/var/lib/postgresql` from 18).',
        'postgres'),
    Var('cslr_postgres_user', 'str', 'mlflow', 'PostgreSQL user MLflow connects as.', 'postgres', fmt='name'),
    Var('cslr_postgres_password', 'str', None, 'PostgreSQL password. Required when MLflow is enabled; at least '
        '12 characters and not a well-known default. Keep it in Ansible Vault.', 'postgres', secret=True,
        nullable=True, required=True),
    Var('cslr_postgres_db', 'str', 'mlflow', 'PostgreSQL database of MLflow.', 'postgres', fmt='name'),
    Var('cslr_postgres_memory', 'str', None, 'Memory limit of the PostgreSQL container. null: no limit.',
        'postgres', fmt='memory', nullable=True),
    # ------------------------------------------------------------------ redis
    Var('cslr_redis_enabled', 'bool', False, 'Run Redis on this host (set it in host_vars of the host(s) that '
        'should).', 'redis', scope='host'),
    Var('cslr_redis_image', 'str', 'redis:7', 'Redis image.', 'redis', fmt='image'),
    Var('cslr_redis_port', **dict(_PORT, default=6381, description='Redis port on the host (the original '
                                  '`services.redis.port`).', owner='redis')),
    Var('cslr_redis_password', 'str', None, 'Redis password (`requirepass`): required on hosts that enable '
        'Redis, at least 12 characters, not a well-known default. Keep it in Ansible Vault.', 'redis', secret=True,
        nullable=True),
    Var('cslr_redis_memory', 'str', None, 'Memory limit of the Redis container. null: no limit.', 'redis',
        fmt='memory', nullable=True),
    # ------------------------------------------------------------------ marimo
    Var('cslr_marimo_enabled', 'bool', False, 'Run Marimo on this host (set it in host_vars).', 'marimo',
        scope='host'),
    Var('cslr_marimo_image', 'str', 'ghcr.io/marimo-team/marimo:0.16.5', 'Marimo image.', 'marimo',
        scope='host', fmt='image'),
    Var('cslr_marimo_port', **dict(_PORT, default=8080, description='Marimo port.', owner='marimo')),
    Var('cslr_marimo_gpus', 'int', 0, 'GPUs given to the Marimo container; above 0 only on `cslr_gpu_hosts`.',
        'marimo', scope='host', minimum=0),
    Var('cslr_marimo_memory', 'str', None, 'Memory limit of the Marimo container. null: no limit.', 'marimo',
        scope='host', fmt='memory', nullable=True),
    Var('cslr_marimo_shm_size', 'str', '1g', 'Size of /dev/shm in the Marimo container.', 'marimo',
        scope='host', fmt='memory'),
    Var('cslr_marimo_notebooks_dir', 'str', '/srv/cslr-platform/marimo', 'Host directory of the notebooks '
        '(mounted as Marimo\'s working directory; kept by teardown).', 'config', scope='host', fmt='path'),
    Var('cslr_marimo_token', 'str', None, 'Password of the Marimo editor (`--token-password`): required on hosts '
        'that enable Marimo (the editor runs code as root in its container). Keep it in Ansible Vault.', 'marimo',
        secret=True, nullable=True),
    # ------------------------------------------------------------------ monitoring
    Var('cslr_monitoring_enabled', 'bool', False, 'Run the monitoring stack: Prometheus (and Grafana, '
        '`cslr_grafana_enabled`) on the host of `cslr_monitoring_hosts`, node exporter on every cluster host and '
        'the DCGM exporter on `cslr_gpu_hosts`. Prometheus scrapes every Ray node, exporter and health service, '
        'with alert rules; the Ray dashboard\'s Metrics tab uses it (docs/monitoring.md).', 'monitoring'),
    Var('cslr_monitoring_user', 'str', 'cslr', 'User name of the Prometheus and Grafana logins (HTTP basic '
        'authentication; Grafana\'s admin user).', 'monitoring', fmt='name'),
    Var('cslr_monitoring_password', 'str', None, 'Password of the Prometheus and Grafana logins (at least 12 '
        'characters, not a well-known default). null: generated once on the controller (`cslr_secrets_dir`) and '
        'reused. Keep it in Ansible Vault.', 'monitoring', secret=True, nullable=True),
    Var('cslr_prometheus_image', 'str', 'prom/prometheus:v2.53.3', 'Prometheus image (it must carry `promtool`, '
        'as the official image does: the container\'s health check uses it).', 'monitoring', fmt='image'),
    Var('cslr_prometheus_port', **dict(_PORT, default=9090, description='Port of Prometheus (its UI and API, '
                                       'behind the login) on the monitoring host.', owner='monitoring')),
    Var('cslr_prometheus_retention', 'str', '15d', 'How long Prometheus keeps samples '
        '(`--storage.tsdb.retention.time`).', 'monitoring', fmt='duration'),
    Var('cslr_prometheus_retention_size', 'str', None, 'Most disk space Prometheus\'s data may take '
        '(`--storage.tsdb.retention.size`, e.g. 20g); the oldest blocks go first. null: no limit but the time.',
        'monitoring', fmt='size', nullable=True),
    Var('cslr_prometheus_scrape_interval', 'str', '15s', 'How often Prometheus scrapes every target (and evaluates '
        'the alert rules).', 'monitoring', fmt='duration'),
    Var('cslr_node_exporter_image', 'str', 'prom/node-exporter:v1.9.0', 'Image of the node exporter (host '
        'metrics: CPU, memory, disks, network) on every cluster host.', 'monitoring', fmt='image'),
    Var('cslr_node_exporter_port', **dict(_PORT, default=9100, description='Port of the node exporter on every '
                                          'host; only the monitoring host may reach it.', owner='monitoring')),
    Var('cslr_dcgm_exporter_image', 'str', 'nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04', 'Image of '
        'NVIDIA\'s DCGM exporter (GPU utilisation, memory, temperature, XID and ECC errors) on `cslr_gpu_hosts`.',
        'monitoring', fmt='image'),
    Var('cslr_dcgm_exporter_port', **dict(_PORT, default=9400, description='Port of the DCGM exporter on GPU '
                                          'hosts; only the monitoring host may reach it.', owner='monitoring')),
    Var('cslr_grafana_enabled', 'bool', True, 'With the monitoring stack, run Grafana beside Prometheus: '
        'Prometheus as its data source and Ray\'s own dashboards provisioned, embedded in the Ray dashboard\'s '
        'Metrics tab.', 'monitoring'),
    Var('cslr_grafana_image', 'str', 'grafana/grafana:11.6.0', 'Grafana image.', 'monitoring', fmt='image'),
    Var('cslr_grafana_port', **dict(_PORT, default=3000, description='Port of Grafana on the monitoring host.',
                                    owner='monitoring')),
    # ------------------------------------------------------------------ rendezvous (etcd for torchrun)
    Var('cslr_rendezvous_enabled', 'bool', False, 'Run etcd for PyTorch elastic rendezvous (`torchrun '
        '--rdzv-backend=etcd-v2`) on the hosts of `cslr_rendezvous_hosts`: one member, or a three-member cluster '
        'when three hosts are given. Reachable from the cluster hosts\' addresses only.', 'rendezvous'),
    Var('cslr_rendezvous_image', 'str', 'quay.io/coreos/etcd:v3.5.21', 'etcd image. With '
        '`cslr_rendezvous_v2_api` it must be etcd 3.4 or 3.5: etcd 3.6 removed the v2 API.', 'rendezvous',
        fmt='image'),
    Var('cslr_rendezvous_client_port', **dict(_PORT, default=2379, description='etcd client port: the '
                                              '`--rdzv-endpoint` of torchrun is `ADDRESS:PORT` of a rendezvous '
                                              'host.', owner='rendezvous')),
    Var('cslr_rendezvous_peer_port', **dict(_PORT, default=2380, description='etcd peer port (members of a '
                                            'three-host rendezvous cluster talk on it).', owner='rendezvous')),
    Var('cslr_rendezvous_v2_api', 'bool', True, 'Serve etcd\'s v2 API (`ETCD_ENABLE_V2`). torch\'s `etcd` and '
        '`etcd-v2` rendezvous backends speak only v2 (through python-etcd); it exists in etcd 3.4 and 3.5 and was '
        'removed in 3.6. false only when every client uses the v3 API.', 'rendezvous'),
    Var('cslr_rendezvous_clean_runs', 'list', [], '`playbooks/rendezvous_clean.yml` only: the torchrun '
        '`--rdzv-id`s whose rendezvous state to delete (both etcd backends). Empty: list the runs found.',
        'rendezvous', elements='str'),
    Var('cslr_rendezvous_clean_all', 'bool', False, '`playbooks/rendezvous_clean.yml` only: delete the '
        'rendezvous state of every run (no training job may be running).', 'rendezvous'),
    # ------------------------------------------------------------------ training (torchrun jobs on the hosts)
    Var('cslr_training_enabled', 'bool', None, 'Prepare this host for distributed training jobs: torchrun\'s '
        'ports open to the cluster hosts, `NCCL_SOCKET_IFNAME`/`GLOO_SOCKET_IFNAME` set to the interface of '
        '`cslr_cluster_address` (in the Ray container and in /etc/cslr/training.env + a login profile on the '
        'host), the checkpoint directory. null: on `cslr_gpu_hosts` only.', 'training', scope='host',
        nullable=True),
    Var('cslr_training_master_port', **dict(_PORT, default=29500, description='torchrun `--master-port` (static '
                                            'rendezvous), opened to the cluster hosts on training hosts.',
                                            owner='training')),
    Var('cslr_training_c10d_port', **dict(_PORT, default=29400, description='Port of torchrun\'s c10d rendezvous '
                                          '(`--rdzv-backend=c10d --rdzv-endpoint=HOST:PORT`), opened to the '
                                          'cluster hosts on training hosts.', owner='training')),
    Var('cslr_training_min_port', **dict(_PORT, default=40000, description='First port of the range opened to '
                                         'the cluster hosts for the sockets training jobs listen on at random '
                                         '(NCCL, gloo, the TCPStore of etcd/c10d rendezvous).', owner='training')),
    Var('cslr_training_max_port', **dict(_PORT, default=49999, description='Last port of the training port range '
                                         '(see `cslr_training_min_port`).',
                                         owner='training')),
    Var('cslr_training_set_port_range', 'bool', None, 'Set the kernel\'s ephemeral port range '
        '(`net.ipv4.ip_local_port_range`) of training hosts to `cslr_training_min_port` - `cslr_training_max_port`, '
        'so the ports NCCL, gloo and torchrun bind at random (every rendezvous backend: the workers\' master port, '
        'NCCL\'s and gloo\'s sockets) fall inside the range the firewall opens. This narrows the range every '
        'outgoing connection of the host takes its local port from (Linux default 32768-60999); the validator '
        'refuses a range of fewer than 4096 ports. null: when `cslr_firewall_enabled` (without the firewall every '
        'port is reachable and the kernel\'s range is kept). false: keep the kernel\'s range (with the firewall on, '
        'jobs must then pick their ports inside the opened range themselves).', 'training', nullable=True),
    Var('cslr_training_address', 'str', None, 'Address NCCL and gloo use on this host: the host\'s address on a '
        'faster fabric network (e.g. 100 GbE or IPoIB beside a 1 GbE management LAN). Its interface becomes '
        '`NCCL_SOCKET_IFNAME`/`GLOO_SOCKET_IFNAME`, it is `CSLR_TRAINING_ADDRESS` for `--local-addr`, and the '
        'firewall opens the training ports to every training host\'s training address. null: '
        '`cslr_cluster_address`.', 'training', scope='host', fmt='ipv4', nullable=True, example='10.213.2.12'),
    Var('cslr_training_interface', 'str', None, 'Network interface for NCCL and gloo on this host, overriding the '
        'one derived from `cslr_training_address`; the preflight checks it exists and holds that address. null: '
        'the interface that holds `cslr_training_address`.', 'training', scope='host', nullable=True,
        example='ens1f0'),
    Var('cslr_training_ulimits', 'dict', {'memlock': -1, 'stack': 67108864}, 'Resource limits (`ulimit` names: '
        'memlock, stack, nofile, core, nproc; a whole number, -1 for unlimited) of the Ray containers and of the '
        'job containers `cslr-train` starts on training hosts. NCCL needs unlimited locked memory for RDMA and '
        'pinned buffers; PyTorch\'s DataLoader workers and deep models want a 64 MiB stack.', 'training',
        scope='host'),
    Var('cslr_training_shm_size', 'str', '2g', 'Shared memory (/dev/shm) for jobs on training hosts, on top of '
        'Ray\'s object store: added to the Ray container\'s /dev/shm (`cslr_ray_shm_size`, 80% of which is the '
        'object store) and the size of a `cslr-train` job container\'s /dev/shm (NCCL\'s intra-node buffers, '
        'DataLoader workers). The preflight refuses a host whose memory is smaller than both together.', 'training',
        scope='host', fmt='memory'),
    Var('cslr_training_ipc', 'str', 'private', 'IPC namespace of `cslr-train` job containers: `private` (their own '
        '/dev/shm of `cslr_training_shm_size`) or `host` (the host\'s /dev/shm and IPC, as `docker run --ipc=host`; '
        'what NVIDIA\'s containers recommend for several GPU processes per host).', 'training', scope='host',
        choices=['private', 'host']),
    Var('cslr_training_rdma', 'bool', None, 'Give the Ray and job containers the host\'s RDMA devices '
        '(/dev/infiniband, capability IPC_LOCK) and set `NCCL_IB_HCA` to the host\'s InfiniBand/RoCE adapters '
        '(/sys/class/infiniband). null: when the host has /dev/infiniband. true: the preflight refuses a host '
        'without it.', 'training', scope='host', nullable=True),
    Var('cslr_training_nccl_env', 'dict', {}, 'Extra variables for training jobs (names starting NCCL_, GLOO_, '
        'TORCH_, TORCHELASTIC_, CUDA_ or UCX_), e.g. `{NCCL_IB_GID_INDEX: 3, NCCL_P2P_DISABLE: 1, NCCL_DEBUG: '
        'WARN}` (true/false are written as 1/0, as NCCL reads them): in the Ray containers, '
        '/etc/cslr/training.env and job containers; they override the derived ones (`NCCL_SOCKET_IFNAME`, '
        '`NCCL_IB_HCA`).', 'training', scope='host'),
    Var('cslr_training_image', 'str', None, 'Job image of training hosts (Ray + torch + python-etcd, e.g. built '
        'from the collection\'s roles/training/files/job-image/Dockerfile through `cslr_images_build`): pulled '
        'or loaded on every training host, the default image of `cslr-train`. Its labels must agree across the '
        'training hosts of a run (torch version everywhere, torch build variant such as cu128 on GPU hosts; the '
        'torch build fixes its NCCL): checked after the images are in place. null: no job image; `cslr-train` '
        'then needs `CSLR_TRAINING_IMAGE`.', 'training', scope='host', fmt='image',
        nullable=True),
    Var('cslr_time_sync', 'str', 'manage', 'Clock synchronisation of the hosts, which etcd\'s leases, '
        'checkpoint retention by age and MLflow\'s run times rely on. `manage`: on a host without an NTP client '
        '(chrony, systemd-timesyncd, ntpd) install and start systemd-timesyncd, then require a synchronised '
        'clock; `check`: only require a synchronised clock (the preflight stops the run naming the host); '
        '`warn`: print a warning. A container (a simulated host) never gets a time daemon: it shares its '
        'machine\'s clock, so only the check applies there.', 'training', scope='host',
        choices=['manage', 'check', 'warn']),
    Var('cslr_checkpoint_dir', 'str', '/var/lib/cslr-platform/checkpoints', 'Local checkpoint directory of '
        'training hosts (e.g. an NVMe mount point), created with the owner, group and mode below and mounted at '
        'the same path in the Ray container (`CSLR_CHECKPOINT_DIR`).', 'training', scope='host', fmt='path'),
    Var('cslr_checkpoint_owner', 'str', 'root', 'Owner of `cslr_checkpoint_dir` (Ray\'s jobs run as root in '
        'the Ray container).', 'training', scope='host'),
    Var('cslr_checkpoint_group', 'str', 'root', 'Group of `cslr_checkpoint_dir`.', 'training', scope='host'),
    Var('cslr_checkpoint_mode', 'str', '0770', 'Mode of `cslr_checkpoint_dir` (octal, quoted).', 'training',
        scope='host', fmt='mode'),
    Var('cslr_checkpoint_min_free', 'str', '10g', 'Free space `cslr_checkpoint_dir` must have; a run stops '
        'with the host, the free space and the mount point when it has less.', 'training', scope='host',
        fmt='size'),
    Var('cslr_checkpoint_retention_days', 'int', None, 'Delete files under `cslr_checkpoint_dir` not modified '
        'for this many days (a daily systemd timer). null: keep everything.', 'training', scope='host',
        minimum=1, nullable=True),
    Var('cslr_checkpoint_s3_uri', 'str', None, 'S3 location of the remote checkpoint tier (`s3://BUCKET/PREFIX`), '
        'given to jobs as `CSLR_CHECKPOINT_S3_URI`. null: no S3 tier.', 'training', fmt='s3_uri', nullable=True),
    Var('cslr_checkpoint_s3_endpoint_url', 'str', None, 'S3 endpoint for a non-AWS store (MinIO, Ceph); given as '
        '`AWS_ENDPOINT_URL`. null: AWS.', 'training', nullable=True),
    Var('cslr_checkpoint_s3_region', 'str', None, 'S3 region (`AWS_DEFAULT_REGION`). null: the SDK\'s default.',
        'training', nullable=True),
    Var('cslr_checkpoint_s3_access_key_id', 'str', None, 'S3 access key id (`AWS_ACCESS_KEY_ID`) for the '
        'training jobs. Keep it in Ansible Vault.', 'training', secret=True, nullable=True),
    Var('cslr_checkpoint_s3_secret_access_key', 'str', None, 'S3 secret key (`AWS_SECRET_ACCESS_KEY`): written '
        'into a root-only env file of the Ray stack, never logged. Keep it in Ansible Vault.', 'training',
        secret=True, nullable=True),
)

BY_NAME = dict((v.name, v) for v in VARIABLES)

# The port ranges (low, high) the validator names in its range checks. Which services run on a host
# and which ports they bind is the services catalog's (module_utils/_services.py).
RAY_WORKER_RANGE = ('cslr_ray_min_worker_port', 'cslr_ray_max_worker_port')
TRAINING_RANGE = ('cslr_training_min_port', 'cslr_training_max_port')

# Variables (or original config keys written as variables) that no longer exist, with
# what replaces them. The validator reports each one set in the inventory.
REMOVED = {
    'cslr_head_whitelist': 'the inventory group cslr_ray_head_candidates (inventory order = priority)',
    'cslr_ray_head_whitelist': 'the inventory group cslr_ray_head_candidates (inventory order = priority)',
    'cslr_nodes_yaml': 'variables in group_vars/all.yml (nodes.yaml is no longer supported)',
    'cslr_network_subnet': 'cslr_cluster_network (the cluster LAN; there is no shared Docker bridge)',
    'cslr_subnet': 'cslr_cluster_network (the cluster LAN; there is no shared Docker bridge)',
    'cslr_ray_head_port': 'cslr_ray_gcs_port',
    'cslr_ray_client_port': 'cslr_ray_client_server_port',
    'cslr_ray_cpu_enabled': 'cslr_ray_enabled (one Ray node per host)',
    'cslr_ray_gpu_enabled': 'the inventory group cslr_gpu_hosts (GPU hosts run cslr_ray_gpu_image)',
    'cslr_ray_gpu_head_port': 'cslr_ray_gcs_port (one Ray node per host, the same ports everywhere)',
    'cslr_ray_gpu_dashboard_port': 'cslr_ray_dashboard_port (one Ray node per host)',
    'cslr_ray_gpu_client_port': 'cslr_ray_client_server_port (one Ray node per host)',
    'cslr_ray_gpu_cpus': 'cslr_ray_cpus in the GPU host\'s host_vars',
    'cslr_ray_gpu_memory': 'cslr_ray_memory in the GPU host\'s host_vars',
    'cslr_ray_gpu_shm_size': 'cslr_ray_shm_size in the GPU host\'s host_vars',
    'cslr_health_url': 'nothing: each host\'s health service is reached at cslr_cluster_address:cslr_health_port',
    'cslr_health_service_url': 'nothing: each host\'s health service is reached at '
                               'cslr_cluster_address:cslr_health_port',
    'cslr_mlflow_host': 'the inventory group cslr_mlflow_hosts (exactly one host)',
    'cslr_gpu_hosts': 'the inventory group cslr_gpu_hosts',
    'cslr_ray_head_candidates': 'the inventory group cslr_ray_head_candidates',
    'cslr_mlflow_hosts': 'the inventory group cslr_mlflow_hosts',
    'cslr_mlflow_postgres_password': 'cslr_postgres_password',
    'cslr_postgres_port': 'nothing: PostgreSQL is reachable only by MLflow, on the Compose network',
    'cslr_cluster_discovery_timeout': 'cslr_ray_discovery_timeout',
    'cslr_cluster_wait_for_head': 'cslr_ray_wait_for_head',
}

# Unprefixed top-level keys of the original config.yaml pasted into group_vars.
ORIGINAL_SECTIONS = {
    'services': 'cslr_* variables (run playbooks/import_config.yml on the config.yaml)',
    'nodes': 'the group cslr_ray_head_candidates and cslr_* variables (run playbooks/import_config.yml)',
    'network': 'cslr_cluster_network (run playbooks/import_config.yml)',
}

# cslr_-prefixed names that are not configuration: facts set by the collection's modules.
NOT_CONFIG = ('cslr_gpu', 'cslr_training')


GENERATED_MARK = 'Generated by scripts/gen_config.py'

# argument_specs types -> the types the validator knows ('raw': not checked).
_ARG_TYPES = {'str': 'str', 'path': 'str', 'int': 'int', 'float': 'float', 'bool': 'bool', 'list': 'list',
              'dict': 'dict'}


def _read_yaml(path):
    import yaml  # controller side only

    with open(path) as handle:
        text = handle.read()
    return text, yaml.safe_load(text) or {}


def role_layout(roles_dir):
    """(generated, external) for the collection's roles directory.

    generated: roles whose defaults/argument_specs scripts/gen_config.py writes: `config`, plus each owner
               role that has tasks/main.yml and no hand-written defaults/main.yml.
    external:  {role: [Var]} for roles whose defaults/main.yml is written by hand: their cslr_ names
               (defaults/main.yml and meta/argument_specs.yml), typed from the argument spec when there is
               one ('raw', i.e. unchecked, otherwise). Names the spec already has are left out.
    """
    import os

    generated, external = set(['config']), {}
    if not os.path.isdir(roles_dir):
        return generated, external
    for role in sorted(os.listdir(roles_dir)):
        base = os.path.join(roles_dir, role)
        defaults_path = os.path.join(base, 'defaults', 'main.yml')
        has_tasks = os.path.isfile(os.path.join(base, 'tasks', 'main.yml'))
        text, defaults = ('', {})
        if os.path.isfile(defaults_path):
            text, defaults = _read_yaml(defaults_path)
        if role == 'config' or GENERATED_MARK in text:
            if role != 'config' and has_tasks:
                generated.add(role)
            continue
        if role in OWNERS and has_tasks and not text:
            generated.add(role)
            continue
        options = {}
        specs_path = os.path.join(base, 'meta', 'argument_specs.yml')
        if os.path.isfile(specs_path):
            options = ((_read_yaml(specs_path)[1].get('argument_specs') or {}).get('main') or {}).get('options') or {}
        names = [n for n in list(defaults) + [o for o in options if o not in defaults]
                 if str(n).startswith('cslr_') and n not in BY_NAME]
        if not names:
            continue
        found = []
        for name in names:
            opt = options.get(name) or {}
            desc = opt.get('description') or 'Defined by the role %s (not documented in an argument spec).' % role
            if isinstance(desc, list):
                desc = ' '.join(str(d) for d in desc)
            found.append(Var(name, _ARG_TYPES.get(opt.get('type'), 'raw'), defaults.get(name, opt.get('default')),
                             str(desc), role, elements=opt.get('elements') if opt.get('elements') in
                             ('str', 'int') else None, choices=opt.get('choices'), secret=bool(opt.get('no_log')),
                             nullable=True))
        external[role] = found
    return generated, external


def owner_role(var, generated_roles):
    """Role whose defaults carry `var`: its owner if that role's files are generated, else `config`."""
    return var.owner if var.owner in generated_roles else 'config'
