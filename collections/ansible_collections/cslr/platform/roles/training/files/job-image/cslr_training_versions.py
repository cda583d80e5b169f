"""Versions inside a training job image (a build step of the job image; also
`cslr-train -- python3 /opt/cslr/cslr_training_versions.py` on a training host).

  --has VERSION VARIANT    exit 0 when torch VERSION (+VARIANT) and python-etcd are importable
  --check VERSION VARIANT  print the versions as JSON; exit 1 naming what is missing or different
  (no argument)            print the versions as JSON
"""
import json
import platform
import sys


def versions():
    out = {'python': platform.python_version()}
    try:
        import torch
        out['torch'] = torch.__version__
        out['cuda'] = torch.version.cuda
        nccl = None
        if torch.cuda.is_available() or torch.version.cuda:
            try:
                nccl = '.'.join(str(p) for p in torch.cuda.nccl.version())
            except Exception:  # pylint: disable=broad-except
                nccl = None
        out['nccl'] = nccl
        out['gloo'] = torch.distributed.is_gloo_available()
    except ImportError:
        out['torch'] = None
    try:
        import etcd  # noqa: F401  python-etcd
        out['python_etcd'] = True
    except ImportError:
        out['python_etcd'] = False
    try:
        import ray
        out['ray'] = ray.__version__
    except ImportError:
        out['ray'] = None
    return out


def problems(found, version, variant):
    bad = []
    torch = found.get('torch') or ''
    if not torch:
        bad.append('torch is not installed')
    elif torch.split('+')[0] != version:
        bad.append('torch is %s, not %s' % (torch, version))
    elif '+' in torch and torch.split('+', 1)[1] != variant:
        bad.append('torch is the %s build, not %s' % (torch.split('+', 1)[1], variant))
    elif variant != 'cpu' and not found.get('cuda'):
        bad.append('torch %s has no CUDA, but TORCH_VARIANT is %s' % (torch, variant))
    elif variant == 'cpu' and found.get('cuda'):
        bad.append('torch %s is built for CUDA %s, but TORCH_VARIANT is cpu' % (torch, found['cuda']))
    elif variant.startswith('cu') and found.get('cuda') and found['cuda'].replace('.', '') != variant[2:]:
        bad.append('torch %s is built for CUDA %s, not %s' % (torch, found['cuda'], variant))
    if not found.get('python_etcd'):
        bad.append('python-etcd is not installed (torchrun --rdzv-backend=etcd-v2 needs it)')
    if not found.get('ray'):
        bad.append('Ray is not installed (BASE_IMAGE should be a Ray image)')
    return bad


def main(argv):
    found = versions()
    if len(argv) == 3 and argv[0] in ('--has', '--check'):
        bad = problems(found, argv[1], argv[2])
        if argv[0] == '--has':
            return 1 if [b for b in bad if not b.startswith('Ray')] else 0
        if bad:
            sys.stderr.write('job image: %s\n' % '; '.join(bad))
            return 1
    print(json.dumps(found, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
