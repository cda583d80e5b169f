"""Elastic PyTorch job used by the tests (the lab's job image, or cslr-lab/torch), one process per
node, started by torchrun with the etcd-v2 or c10d rendezvous, e.g.

    cslr-train -v /opt/cslr-test-jobs:/jobs:ro -- torchrun --nnodes=2 --nproc-per-node=1 \\
        --rdzv-backend=c10d --rdzv-endpoint=<host>:29400 --rdzv-id=<job> /jobs/elastic_allreduce.py

Joins the gloo process group torchrun's rendezvous formed (env://), all-reduces (SUM) a tensor
holding rank+1, then a payload of ALLREDUCE_MIB MiB (default 8), and prints one JSON line: rank,
local_rank, world_size, the master address and port, this host's address (hostname, the address of
GLOO_SOCKET_IFNAME and the source address towards the master), GLOO_SOCKET_IFNAME /
NCCL_SOCKET_IFNAME, the sum, the bytes GLOO_SOCKET_IFNAME sent during the payload all-reduce (the
host's counter: with --network host the job sees the host's interfaces), the job's resource limits
(memlock, stack: -1 is unlimited) and the size of its /dev/shm. Exits 0 only if world_size is
EXPECTED_WORLD_SIZE (default 2) and the sum is 1+2+...+world_size (3 for two).
"""
import datetime
import fcntl
import json
import os
import resource
import socket
import struct
import sys

import torch
import torch.distributed as dist


def ifname_address(name):
    """IPv4 address of a network interface (SIOCGIFADDR), None if it has none."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
        return socket.inet_ntoa(packed[20:24])
    except OSError:
        return None


def source_address(host, port):
    """The local address that reaches host:port (a UDP connect sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, int(port)))
            return s.getsockname()[0]
    except (OSError, ValueError):
        return None


def tx_bytes(name):
    try:
        with open("/sys/class/net/%s/statistics/tx_bytes" % name) as handle:
            return int(handle.read())
    except (OSError, ValueError, TypeError):
        return None


def limit(which):
    soft = resource.getrlimit(which)[0]
    return -1 if soft == resource.RLIM_INFINITY else soft


def shm_bytes():
    try:
        st = os.statvfs("/dev/shm")
        return st.f_blocks * st.f_frsize
    except OSError:
        return None


def main():
    expected = int(os.environ.get("EXPECTED_WORLD_SIZE", "2"))
    dist.init_process_group(backend="gloo", init_method="env://",
                            timeout=datetime.timedelta(minutes=2))
    try:
        rank, world_size = dist.get_rank(), dist.get_world_size()
        tensor = torch.tensor([rank + 1], dtype=torch.int64)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        total = int(tensor.item())
        gloo = os.environ.get("GLOO_SOCKET_IFNAME")
        before = tx_bytes(gloo)
        payload = torch.ones(int(os.environ.get("ALLREDUCE_MIB", "8")) * 262144, dtype=torch.float32)
        dist.all_reduce(payload, op=dist.ReduceOp.SUM)
        after = tx_bytes(gloo)
        sent = after - before if before is not None and after is not None else None
        payload_ok = bool(payload[0].item() == world_size)
    finally:
        dist.destroy_process_group()

    master_addr, master_port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    gloo_ifname = os.environ.get("GLOO_SOCKET_IFNAME")
    ok = world_size == expected and total == world_size * (world_size + 1) // 2 and payload_ok
    print(json.dumps({
        "rank": rank,
        "local_rank": int(os.environ.get("LOCAL_RANK", "0")),
        "world_size": world_size,
        "expected_world_size": expected,
        "sum": total,
        "ok": ok,
        "hostname": socket.gethostname(),
        "master_addr": master_addr,
        "master_port": master_port,
        "gloo_socket_ifname": gloo_ifname,
        "nccl_socket_ifname": os.environ.get("NCCL_SOCKET_IFNAME"),
        "ifname_addr": ifname_address(gloo_ifname) if gloo_ifname else None,
        "local_addr": source_address(master_addr, master_port) if master_addr else None,
        "torch": torch.__version__,
        "payload_bytes": payload.numel() * 4,
        "ifname_tx_bytes": sent,
        "memlock": limit(resource.RLIMIT_MEMLOCK),
        "stack": limit(resource.RLIMIT_STACK),
        "shm_bytes": shm_bytes(),
    }, sort_keys=True), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
