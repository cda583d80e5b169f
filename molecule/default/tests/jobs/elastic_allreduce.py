"""Elastic PyTorch job used by the tests (cslr-lab/torch image), one process per node, started by
torchrun with the etcd-v2 rendezvous, e.g.

    torchrun --nnodes=2 --nproc-per-node=1 --rdzv-backend=etcd-v2 \\
        --rdzv-endpoint=<etcd>:2379 --rdzv-id=<job> /jobs/elastic_allreduce.py

Joins the gloo process group torchrun's rendezvous formed (env://), all-reduces (SUM) a tensor
holding rank+1 and prints one JSON line: rank, local_rank, world_size, the master address and
port, this host's address (hostname, the address of GLOO_SOCKET_IFNAME and the source address
towards the master), GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME and the sum. Exits 0 only if
world_size is EXPECTED_WORLD_SIZE (default 2) and the sum is 1+2+...+world_size (3 for two).
"""
import datetime
import fcntl
import json
import os
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


def main():
    expected = int(os.environ.get("EXPECTED_WORLD_SIZE", "2"))
    dist.init_process_group(backend="gloo", init_method="env://",
                            timeout=datetime.timedelta(minutes=2))
    try:
        rank, world_size = dist.get_rank(), dist.get_world_size()
        tensor = torch.tensor([rank + 1], dtype=torch.int64)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        total = int(tensor.item())
    finally:
        dist.destroy_process_group()

    master_addr, master_port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    gloo_ifname = os.environ.get("GLOO_SOCKET_IFNAME")
    ok = world_size == expected and total == world_size * (world_size + 1) // 2
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
    }, sort_keys=True), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
