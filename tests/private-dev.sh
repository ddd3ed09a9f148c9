#!/bin/sh
# Runs a command in a private mount namespace whose /dev is a fresh tmpfs holding only the
# usual device nodes, so the tests can bind /dev/log and read what the module sends to
# syslog without touching the host, and whose /etc/passwd and /etc/group are private copies
# (on that tmpfs) to which the tests add the accounts they log in as: the module maps the
# name the user database knows. Needs root (as CI has). Usage: private-dev.sh CMD...
set -eu
if [ "${PBM_PRIVATE_DEV:-}" != "inside" ]; then
    export PBM_PRIVATE_DEV=inside
    exec unshare --mount --propagation private "$0" "$@"
fi
# Where the real /dev stays reachable: /mnt inside this namespace (the host's /mnt is not
# touched: mounts here are private), else a temporary directory.
if [ -d /mnt ]; then old=/mnt; else old=$(mktemp -d /tmp/pbm-olddev.XXXXXX); fi
mount --bind /dev "$old"
mount -t tmpfs -o mode=0755,size=8m tmpfs /dev
for n in null zero full random urandom tty ptmx; do
    [ -e "$old/$n" ] || continue
    touch "/dev/$n"
    mount --bind "$old/$n" "/dev/$n"
done
for d in pts shm; do
    [ -d "$old/$d" ] || continue
    mkdir "/dev/$d"
    mount --bind "$old/$d" "/dev/$d"
done
mkdir -m 0755 /dev/.pbm-nss
for f in passwd group; do
    cp "/etc/$f" "/dev/.pbm-nss/$f"
    chmod 0644 "/dev/.pbm-nss/$f"
    mount --bind "/dev/.pbm-nss/$f" "/etc/$f"
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
exec "$@"
