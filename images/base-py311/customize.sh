#!/usr/bin/env bash
# Turns a debootstrapped bookworm tree (argument: its directory) into the root of
# cslr-lab/base-py311:bookworm: run by scripts/images.sh before `docker import`. Edits files
# only (no chroot needed).
set -euo pipefail
root=${1:?usage: customize.sh ROOTDIR}
[[ -x $root/usr/bin/python3.11 ]] || { echo "customize.sh: $root has no python3.11" >&2; exit 1; }

# apt: the whole bookworm release (updates + security), for the images built FROM it.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

# No machine ID: nothing here boots, and containers of one image must not share one.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# Lean, as Debian's slim images: no documentation, man pages or translations (copyright files
# stay), also from packages installed later by images built FROM this one.
cat >"$root/etc/dpkg/dpkg.cfg.d/10cslr-slim" <<'CONF'
# cslr-lab/base-py311: no docs, man pages or translations (copyright files stay).
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CONF
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/*
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

# No package lists, no .debs, no logs (images built FROM it run apt-get update first).
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
find "$root/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -delete
find "$root/var/log" -type f -delete
rm -rf "$root"/tmp/* "$root"/var/tmp/* "$root"/debootstrap
mkdir -p "$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives/partial"
