#!/usr/bin/env bash
# Turns a debootstrapped trixie tree (argument: its directory) into a simulated host's root:
# run by scripts/images.sh before `docker import`. Edits files only (no chroot needed).
set -euo pipefail
root=${1:?usage: customize.sh ROOTDIR}
[[ -x $root/lib/systemd/systemd ]] || { echo "customize.sh: $root is not a systemd root" >&2; exit 1; }

# apt: the whole trixie release (updates + security), like an installed host.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

# apt keeps what it downloads: the lab bind-mounts a shared archive cache on
# /var/cache/apt/archives, so a second host (or a rebuilt one) installs from it.
cat >"$root/etc/apt/apt.conf.d/10cslr-keep-debs" <<'CONF'
// cslr lab: keep downloaded packages (the archive cache is shared through a bind mount).
APT::Keep-Downloaded-Packages "true";
Binary::apt::APT::Keep-Downloaded-Packages "true";
CONF
# systemd in a container: mask the units that need a real machine. Checked with the lab's
# run flags: unmasked, systemd-firstboot fails (the machine ID is generated at boot) and
# systemd-modules-load fails as soon as a package drops a modules-load.d file (a container
# has no /lib/modules and may not load modules); udev and gettys have no devices or
# consoles to manage; systemd-networkd-wait-online fails once something wants
# network-online.target (docker.service does) because Docker, not networkd, configured
# eth0. With these masked `systemctl is-system-running` says "running", also after the
# docker role has installed Docker.
# Mounts and systemd-sysctl work in such a container and stay (ufw and Docker use sysctls).
for unit in \
    systemd-firstboot.service \
    systemd-modules-load.service \
    systemd-networkd-wait-online.service \
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-udev-trigger.service systemd-udev-settle.service systemd-hwdb-update.service \
    getty.target console-getty.service getty@tty1.service getty-static.service \
    proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount systemd-binfmt.service \
    ; do
  ln -sfn /dev/null "$root/etc/systemd/system/$unit"
done

# Every host gets its own machine ID at first boot (debootstrap wrote one, which all
# containers of this image would share). "uninitialized" = generate at boot, not first-boot.
echo uninitialized >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$root/var/lib/dbus/machine-id"

# Lean: no package lists (Ansible's apt update_cache fetches them), no .debs, no logs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
find "$root/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -delete
find "$root/var/log" -type f -delete
rm -rf "$root"/tmp/* "$root"/var/tmp/* "$root"/debootstrap
mkdir -p "$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives/partial"
