# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the cslr.platform collection. Not a public API: names and return
# shapes may change in any release without notice. Import it only from this
# collection's own code: the cslr.platform.ray_head module and the Ray
# container entrypoint (roles/ray/files/cslr_ray_entrypoint.py).
#
# Ray head election: which host runs the Ray head (GCS) and which hosts are
# workers. The same rules decide in two places, so both must import this file:
#   - the ray_head module, run once per play on a cluster host;
#   - the container entrypoint, when a Ray container (re)starts on its own.
# The entrypoint image has no Ansible, so this file is copied next to the
# entrypoint and imported as a plain module: it must stay standard library only
# (Python >= 3.9; the module side also runs it on older targets, so no 3.10+
# syntax) and must not import anything from ansible.
#
# Everything here is pure except CommandProbe / tcp_connect, which run the
# command or socket call they are given; the command runner is injected, so
# tests never need Ray.

from __future__ import annotations

import collections
import os
import re
import socket

DEFAULT_GCS_PORT = 6379
DEFAULT_PROBE_TIMEOUT = 10.0
DEFAULT_TCP_TIMEOUT = 3.0

ROLE_HEAD = 'head'
ROLE_WORKER = 'worker'

ACTION_KEEP = 'keep'                    # one live head: keep it
ACTION_RESOLVE = 'resolve_split_brain'  # several live heads, resolved automatically
ACTION_OVERRIDE = 'override'            # no live head, head_address override given
ACTION_ELECT = 'elect'                  # no live head, first reachable candidate

# Exit codes of a probe command that mean "the probe tool itself could not run"
# rather than "no GCS answered": docker run/exec failures (125), not executable
# (126), not found (127). Liveness is then unknown and nobody may be elected.
PROBE_TOOL_FAILURE_RCS = (125, 126, 127)

# The options a user sets, as elect() names them in its messages; a caller whose users set them
# under other names passes those (names=...), so no one rewrites the messages afterwards.
OPTION_NAMES = {'head_address': 'head_address', 'resolve_split_brain': 'resolve_split_brain',
                'probe_command': 'probe_command'}

# The Ray state directory: the files through which Ansible, the container entrypoint and the health
# service talk about a Ray node (read and written here for the entrypoint and the ray_node_state
# module; the ray role's tasks and the health service name them too). On the host it is
# /var/lib/cslr-platform/ray (the ray role's _ray_state_dir), mounted into the container at
# CSLR_STATE_DIR. One line of text per file.
STATE_ELECTED_HEAD = 'elected_head'  # Ansible: the elected head's host name or address
STATE_CANDIDATES = 'candidates'      # Ansible: the head candidates, as CSLR_HEAD_CANDIDATES writes them
STATE_ROLE = 'role'                  # the entrypoint, once it decided: head or worker
STATE_GCS_ADDRESS = 'gcs_address'    # the entrypoint: the GCS this node runs (head) or joined (worker)
STATE_FILES = (STATE_ELECTED_HEAD, STATE_CANDIDATES, STATE_ROLE, STATE_GCS_ADDRESS)


def read_state(state_dir, name):
    """The text of one state file without its surrounding white space, or None when it is missing,
    empty or unreadable."""
    try:
        with open(os.path.join(state_dir, name)) as handle:
            return handle.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def write_state(state_dir, **values):
    """Write (a str) or remove (None) state files, each through a temporary file renamed over it (mode
    0644: the health service reads them). Raises OSError; the names must be of STATE_FILES."""
    for name, value in values.items():
        if name not in STATE_FILES:
            raise ValueError('not a Ray state file: %s' % name)
        path = os.path.join(state_dir, name)
        if value is None:
            if os.path.lexists(path):
                os.unlink(path)
            continue
        tmp = path + '.tmp'
        with open(tmp, 'w') as handle:
            handle.write(value + '\n')
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)


SPLIT_BRAIN_FIX = (
    'Keep exactly one head: either rerun with %(resolve_split_brain)s enabled (keeps the head with the most nodes, '
    'ties broken by candidate order, and restarts the other heads as workers), or stop the Ray container on every '
    'head host but the one to keep and rerun; the stopped hosts then join the remaining head as workers. '
    'Jobs running on the heads that are restarted are lost and must be resubmitted.'
)


class ProbeResult(collections.namedtuple('ProbeResult', 'live node_count detail failed')):
    """Outcome of probing one address for a Ray GCS.

    live: a Ray GCS answered (not merely an open TCP port).
    node_count: nodes in that cluster when known, else None.
    detail: human-readable explanation.
    failed: the probe tool itself could not run (liveness unknown).
    """

    __slots__ = ()

    def __new__(cls, live, node_count=None, detail='', failed=False):
        return super(ProbeResult, cls).__new__(cls, bool(live), node_count, detail or '', bool(failed))

    def as_dict(self):
        return {'live': self.live, 'node_count': self.node_count, 'detail': self.detail, 'failed': self.failed}


class ElectionError(Exception):
    """Invalid input or no possible head; the message says why and what to do. option: the
    option at fault (a key of OPTION_NAMES), or None."""

    def __init__(self, msg, option=None):
        super(ElectionError, self).__init__(msg)
        self.option = option


class ProbeError(ElectionError):
    """At least one probe could not run, so live heads cannot be known."""

    def __init__(self, msg, probes=None):
        super(ProbeError, self).__init__(msg, option='probe_command')
        self.probes = probes or {}


class NoReachableCandidateError(ElectionError):
    """No live head, no override, and no candidate may become head."""


class SplitBrainError(ElectionError):
    """More than one live head and automatic resolution was not allowed."""

    def __init__(self, msg, heads, probes=None):
        super(SplitBrainError, self).__init__(msg, option='resolve_split_brain')
        self.heads = list(heads)
        self.probes = probes or {}


class Decision(object):
    """Result of an election. See as_dict() for the field list."""

    def __init__(self, head_host, head_address, head_port, roles, action, reason,
                 live_heads=(), demote=(), probes=None, unreachable=()):
        self.head_host = head_host
        self.head_address = head_address
        self.head_port = head_port
        self.roles = roles
        self.action = action
        self.reason = reason
        self.live_heads = list(live_heads)
        self.demote = list(demote)
        self.probes = probes or {}
        self.unreachable = list(unreachable)

    @property
    def head_gcs_address(self):
        return format_host_port(self.head_address, self.head_port)

    def role_of(self, host):
        return self.roles.get(host, ROLE_WORKER)

    def as_dict(self):
        return {
            'head_host': self.head_host,
            'head_address': self.head_address,
            'head_port': self.head_port,
            'head_gcs_address': self.head_gcs_address,
            'roles': dict(self.roles),
            'action': self.action,
            'reason': self.reason,
            'live_heads': list(self.live_heads),
            'demote': list(self.demote),
            'probes': dict((k, v.as_dict()) for k, v in self.probes.items()),
            'unreachable_candidates': list(self.unreachable),
        }


# ---------------------------------------------------------------------------
# Addresses and inputs
# ---------------------------------------------------------------------------

def split_host_port(text, default_port):
    """'a', 'a:1', '[v6]:1', '[v6]' or a bare IPv6 literal -> (address, port)."""
    text = (text or '').strip()
    if not text:
        raise ElectionError('empty address')
    if text.startswith('['):
        end = text.find(']')
        if end < 0:
            raise ElectionError('invalid address %r: missing "]"' % text)
        address, rest = text[1:end], text[end + 1:]
        if not rest:
            return address, int(default_port)
        if not rest.startswith(':'):
            raise ElectionError('invalid address %r' % text)
        return address, _port(rest[1:], text)
    if text.count(':') == 1:
        address, port = text.split(':')
        if not address:
            raise ElectionError('invalid address %r: no host part' % text)
        return address, _port(port, text)
    return text, int(default_port)  # plain name/IPv4, or a bare IPv6 literal


def _port(value, text):
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ElectionError('invalid port in address %r' % text)
    if not 0 < port < 65536:
        raise ElectionError('port out of range in address %r' % text)
    return port


def format_host_port(address, port):
    if address is None:
        return None
    if ':' in address:
        return '[%s]:%d' % (address, int(port))
    return '%s:%d' % (address, int(port))


def _pairs(items, what):
    """Accept [(host, address)], [{'host':..,'address':..}] or {host: address}; keep order."""
    if items is None:
        return []
    if isinstance(items, dict):
        items = list(items.items())
    pairs = []
    for item in items:
        if isinstance(item, dict):
            host, address = item.get('host'), item.get('address')
        else:
            try:
                host, address = item
            except (TypeError, ValueError):
                raise ElectionError('%s: each entry needs a host and an address, got %r' % (what, item))
        host = '' if host is None else str(host).strip()
        address = '' if address is None else str(address).strip()
        if not host:
            raise ElectionError('%s: entry without a host: %r' % (what, item))
        pairs.append((host, address))
    return pairs


def normalize_inputs(candidates, hosts=None):
    """Validate and merge candidates and hosts.

    Returns (candidates, addresses): the ordered [(host, address)] candidates,
    and an ordered {host: address} for every host (hosts first, then
    candidates that were not in hosts). A candidate without an address takes
    the one from hosts.
    """
    host_pairs = _pairs(hosts, 'hosts')
    addresses = collections.OrderedDict()
    for host, address in host_pairs:
        if host in addresses:
            raise ElectionError('hosts: %s is listed twice' % host)
        if not address:
            raise ElectionError('hosts: %s has no address' % host)
        addresses[host] = address

    ordered = []
    seen = set()
    for host, address in _pairs(candidates, 'candidates'):
        if host in seen:
            raise ElectionError('candidates: %s is listed twice' % host)
        seen.add(host)
        known = addresses.get(host)
        if not address:
            if not known:
                raise ElectionError('candidates: %s has no address and is not in hosts' % host)
            address = known
        elif known and known != address:
            raise ElectionError('candidate %s has address %s but hosts give it %s' % (host, address, known))
        ordered.append((host, address))
        addresses.setdefault(host, address)

    owners = {}
    for host, address in addresses.items():
        if address in owners:
            raise ElectionError('hosts %s and %s have the same address %s' % (owners[address], host, address))
        owners[address] = host
    return ordered, addresses


def rank_candidates(candidates, hint=None):
    """Claiming order for the entrypoint: the hinted host (Ansible's last
    election) first, then the others in configured order. A hint that is not a
    candidate (by host name or address) is ignored."""
    candidates = list(candidates)
    if hint:
        for index, (host, address) in enumerate(candidates):
            if hint in (host, address):
                return [candidates[index]] + candidates[:index] + candidates[index + 1:]
    return candidates


def claim_delay(rank, step):
    """Seconds a candidate of the given rank waits before it may claim the head."""
    return max(0, int(rank)) * max(0.0, float(step))


def parse_candidates_env(text):
    """'host=addr,host=addr' (order kept; blanks ignored) -> [(host, address)].
    An entry without '=' is used as both host and address."""
    pairs = []
    for part in (text or '').split(','):
        part = part.strip()
        if not part:
            continue
        if '=' in part:
            host, address = part.split('=', 1)
        else:
            host, address = part, part
        host, address = host.strip(), address.strip()
        if not host or not address:
            raise ElectionError('CSLR_CANDIDATES: invalid entry %r (expected host=address)' % part)
        pairs.append((host, address))
    return pairs


# ---------------------------------------------------------------------------
# Probing
# ---------------------------------------------------------------------------

def parse_status_node_count(text):
    """Number of nodes in `ray status` output (its Active: and Idle: sections).

    Entries look like ' 1 node_<id>' (one per node) or ' 3 <node type>' when an
    autoscaler groups nodes by type; the leading counts are summed. Returns None
    when no Active: section is found.
    """
    count = None
    section = None
    for raw in (text or '').splitlines():
        line = raw.strip()
        if line in ('Active:', 'Idle:'):
            section = line
            count = count or 0
            continue
        if line.endswith(':') or line.startswith('---') or line.startswith('==='):
            section = None
            continue
        if section:
            match = re.match(r'^(\d+)\s+\S', line)
            if match:
                count += int(match.group(1))
    return count


def tcp_connect(address, port, timeout=DEFAULT_TCP_TIMEOUT):
    """(connected, detail): a plain TCP connect, used only to rule a GCS out
    quickly (refused or unroutable); an open port proves nothing."""
    try:
        conn = socket.create_connection((address, int(port)), timeout=timeout)
    except socket.timeout:
        return False, 'TCP connect to %s timed out after %ss' % (format_host_port(address, port), timeout)
    except (OSError, IOError) as exc:
        return False, 'TCP connect to %s failed: %s' % (format_host_port(address, port), exc)
    conn.close()
    return True, 'TCP port %s open' % format_host_port(address, port)


def _last_line(*texts):
    for text in texts:
        lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
        if lines:
            return lines[-1][:300]
    return ''


class CommandProbe(object):
    """Probe with the Ray CLI: `ray health-check --address A:P` exits 0 only
    when a Ray GCS answers at A:P (it opens a GCS client, which fails on any
    other service, such as Redis on 6379).

    runner(argv, timeout) -> (rc, stdout, stderr); rc None means it timed out;
    it may raise OSError when the command cannot be started.
    command: argv that runs the Ray CLI, e.g. ['ray'], ['docker', 'exec',
    'ray', 'ray'] or ['docker', 'run', '--rm', '--network', 'host', IMAGE, 'ray'].
    tcp_precheck: first try a TCP connect from this process and call the GCS
    not live when it is refused or times out (saves the ~40 s ray waits for an
    absent GCS). Only valid when this process shares the network view of the
    probe command (host networking).
    skip_version_check: a GCS of another Ray version (rolling update) is still
    a live head.
    """

    def __init__(self, runner, command=('ray',), timeout=DEFAULT_PROBE_TIMEOUT, tcp_precheck=True,
                 tcp_timeout=DEFAULT_TCP_TIMEOUT, skip_version_check=True, connect=None):
        self.runner = runner
        self.command = list(command or ('ray',))
        self.timeout = float(timeout)
        self.tcp_precheck = tcp_precheck
        self.tcp_timeout = min(float(tcp_timeout), self.timeout)
        self.skip_version_check = skip_version_check
        self.connect = connect or tcp_connect

    def health_argv(self, address, port):
        argv = self.command + ['health-check', '--address', format_host_port(address, port)]
        if self.skip_version_check:
            argv.append('--skip-version-check')
        return argv

    def status_argv(self, address, port):
        return self.command + ['status', '--address', format_host_port(address, port)]

    def _run(self, argv):
        try:
            return self.runner(argv, self.timeout)
        except (OSError, IOError) as exc:
            return 127, '', 'cannot run %s: %s' % (argv[0], exc)

    def __call__(self, address, port):
        if self.tcp_precheck:
            connected, detail = self.connect(address, port, self.tcp_timeout)
            if not connected:
                return ProbeResult(False, None, detail)
        argv = self.health_argv(address, port)
        rc, out, err = self._run(argv)
        where = format_host_port(address, port)
        if rc is None:
            return ProbeResult(False, None, 'no Ray GCS at %s: ray health-check timed out after %ss' % (where, self.timeout))
        if rc == 0:
            return ProbeResult(True, None, 'Ray GCS answered at %s' % where)
        if rc in PROBE_TOOL_FAILURE_RCS:
            return ProbeResult(False, None, 'probe command %s failed (rc=%s): %s' % (' '.join(argv), rc, _last_line(err, out)),
                               failed=True)
        return ProbeResult(False, None, 'no Ray GCS at %s: ray health-check rc=%s: %s' % (where, rc, _last_line(err, out)))

    def count_nodes(self, address, port):
        rc, out, dummy = self._run(self.status_argv(address, port))
        if rc != 0:
            return None
        return parse_status_node_count(out)


def probe_targets(targets, probe):
    """Probe [(label, address, port)] in order -> {label: ProbeResult}.
    An exception from the probe counts as a failed probe."""
    results = collections.OrderedDict()
    for label, address, port in targets:
        try:
            result = probe(address, port)
        except Exception as exc:  # pylint: disable=broad-except
            result = ProbeResult(False, None, 'probe raised %s: %s' % (type(exc).__name__, exc), failed=True)
        if not isinstance(result, ProbeResult):
            live, node_count, detail = (tuple(result) + (None, ''))[:3]
            result = ProbeResult(live, node_count, detail)
        results[label] = result
    return results


# ---------------------------------------------------------------------------
# The election
# ---------------------------------------------------------------------------

def _describe(head):
    label, address, port, result = head
    nodes = 'unknown number of nodes' if result.node_count is None else '%d node%s' % (
        result.node_count, '' if result.node_count == 1 else 's')
    return '%s (%s, %s)' % (label, format_host_port(address, port), nodes)


def _roles(addresses, head_host):
    return collections.OrderedDict(
        (host, ROLE_HEAD if host == head_host else ROLE_WORKER) for host in addresses)


def elect(candidates, probe, hosts=None, gcs_port=DEFAULT_GCS_PORT, head_address=None, reachable=None,
          resolve_split_brain=False, count_nodes=None, names=None):
    """Decide the Ray head.

    candidates: ordered head candidates [(host, address)] (or dicts host/address).
    probe: probe(address, port) -> ProbeResult; "live" means a Ray GCS answered.
    hosts: every host of the cluster [(host, address)]; non-candidates are workers.
    gcs_port: the GCS port every candidate is probed on.
    head_address: override ('addr' or 'addr:port'); wins when no head is live.
      It may name a candidate (by address or host name) or a head outside the
      inventory (then no host gets the head role). Naming a host that is not a
      candidate is an error.
    reachable: hosts that are up (None: all). Only used to pick a new head.
    resolve_split_brain: with several live heads keep the one with the most
      nodes (ties: candidate order) and demote the others, instead of failing.
    count_nodes: count_nodes(address, port) -> int|None, asked for the node
      count of live heads whose probe did not report it (split brain only).
    names: {option: name} for the options the messages name (OPTION_NAMES'
      keys), when the caller's users set them under other names.

    Rules, in order:
      1. a live head exists -> keep it (a healthy head never moves);
      2. several live heads -> SplitBrainError, or resolve when allowed;
      3. no live head -> the override if given, else the first reachable
         candidate in order;
      4. hosts that are not candidates are always workers.
    Raises ElectionError (or ProbeError / SplitBrainError) when no safe
    decision exists.
    """
    name = dict(OPTION_NAMES, **(names or {}))
    candidates, addresses = normalize_inputs(candidates, hosts)
    gcs_port = int(gcs_port)
    candidate_hosts = [host for host, dummy in candidates]
    by_address = dict((address, host) for host, address in addresses.items())

    override = None  # (host or None, address, port)
    if head_address:
        try:
            o_addr, o_port = split_host_port(head_address, gcs_port)
        except ElectionError as exc:
            raise ElectionError('%s %s: %s' % (name['head_address'], head_address, exc), option='head_address')
        o_host = by_address.get(o_addr) or (o_addr if o_addr in addresses else None)
        if o_host is not None:
            if o_host not in candidate_hosts:
                raise ElectionError(
                    '%s %s is host %s, which is not a head candidate: add it to the candidates or fix %s'
                    % (name['head_address'], head_address, o_host, name['head_address']), option='head_address')
            if o_port != gcs_port:
                raise ElectionError('%s %s names candidate %s on port %d, but the GCS port is %d'
                                    % (name['head_address'], head_address, o_host, o_port, gcs_port),
                                    option='head_address')
            override = (o_host, addresses[o_host], gcs_port)
        else:
            override = (None, o_addr, o_port)
    if not candidates and override is None:
        raise ElectionError('no head candidates and no %s: nothing can be head' % name['head_address'],
                            option='head_address')

    # Probe every candidate on the GCS port (never on some other node's port),
    # plus an override outside the inventory.
    targets = [(host, address, gcs_port) for host, address in candidates]
    external = override is not None and override[0] is None
    if external:
        targets.append((format_host_port(override[1], override[2]), override[1], override[2]))
    probes = probe_targets(targets, probe)

    failed = [label for label, result in probes.items() if result.failed]
    if failed:
        raise ProbeError(
            'cannot tell whether a Ray head is live: probing %s failed (%s). Nothing was decided; fix the probe '
            'command (%s) and rerun.' % (', '.join(failed), '; '.join(probes[f].detail for f in failed),
                                         name['probe_command']),
            probes)

    live = [(label, address, port, probes[label]) for label, address, port in targets if probes[label].live]
    unreachable = [] if reachable is None else [h for h in candidate_hosts if h not in set(reachable)]

    def host_of(label):
        return label if label in addresses else None

    if len(live) == 1:
        label, address, port, dummy = live[0]
        head_host = host_of(label)
        return Decision(head_host, address, port, _roles(addresses, head_host), ACTION_KEEP,
                        'a live Ray head answers at %s; keeping it' % _describe(live[0]),
                        live_heads=[label], probes=probes, unreachable=unreachable)

    if len(live) > 1:
        if not resolve_split_brain:
            raise SplitBrainError(
                'split brain: %d live Ray heads: %s. %s' % (len(live), ', '.join(_describe(h) for h in live),
                                                            SPLIT_BRAIN_FIX % name),
                [h[0] for h in live], probes)
        if count_nodes is not None:
            for index, (label, address, port, result) in enumerate(live):
                if result.node_count is None:
                    try:
                        counted = count_nodes(address, port)
                    except Exception:  # pylint: disable=broad-except
                        counted = None
                    result = result._replace(node_count=counted)
                    probes[label] = result
                    live[index] = (label, address, port, result)
        # Most nodes first; unknown counts rank below any known count; ties keep
        # target order (candidate order, an external override last).
        order = sorted(range(len(live)), key=lambda i: (-(live[i][3].node_count if live[i][3].node_count is not None else -1), i))
        keep = live[order[0]]
        demote = [host_of(h[0]) or h[0] for h in live if h is not keep]
        head_host = host_of(keep[0])
        return Decision(head_host, keep[1], keep[2], _roles(addresses, head_host), ACTION_RESOLVE,
                        'split brain resolved: keeping %s (most nodes, ties by candidate order); restarting %s as workers'
                        % (_describe(keep), ', '.join(_describe(h) for h in live if h is not keep)),
                        live_heads=[h[0] for h in live], demote=demote, probes=probes, unreachable=unreachable)

    if override is not None:
        head_host, address, port = override
        where = 'candidate %s' % head_host if head_host else 'a head outside the inventory'
        return Decision(head_host, address, port, _roles(addresses, head_host), ACTION_OVERRIDE,
                        'no live Ray head; %s %s (%s) overrides the candidate order'
                        % (name['head_address'], head_address, where),
                        probes=probes, unreachable=unreachable)

    for host, address in candidates:
        if host not in unreachable:
            skipped = [h for h in unreachable if candidate_hosts.index(h) < candidate_hosts.index(host)]
            reason = 'no live Ray head; %s is the first reachable candidate' % host
            if skipped:
                reason += ' (skipped unreachable: %s)' % ', '.join(skipped)
            return Decision(host, address, gcs_port, _roles(addresses, host), ACTION_ELECT, reason,
                            probes=probes, unreachable=unreachable)

    raise NoReachableCandidateError(
        'no live Ray head and no head candidate is reachable (candidates: %s). Bring a candidate up, or set %s '
        'to the head to use.' % (', '.join(candidate_hosts), name['head_address']), option='head_address')
