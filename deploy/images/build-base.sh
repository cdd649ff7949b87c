#!/usr/bin/env bash
# The base image every khamsuckhoe image starts from, made from Debian's own packages: this machine
# reaches no container registry, only Debian's mirror. debootstrap --variant=minbase bookworm, the apt
# caches and lists emptied, then `podman import`. A province with its own registry skips this and builds
# FROM its python:3.x-slim instead (deploy/images/README.md, build argument BASE).
#   deploy/images/build-base.sh            builds localhost/khamsuckhoe-base:bookworm unless it exists
#   deploy/images/build-base.sh --rebuild  builds it again (with the security updates published since)
set -euo pipefail
IMAGE="${BASE_IMAGE:-localhost/khamsuckhoe-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ "${1:-}" != "--rebuild" ] && podman image exists "$IMAGE"; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "debootstrap needs root (it creates device nodes and chroots)." >&2
  exit 1
fi
root="$(mktemp -d /var/tmp/ksk-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "==> debootstrap --variant=minbase bookworm ($MIRROR)"
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null
cat > "$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
EOF
# Like Debian's official images: no recommended packages, no documentation, no apt caches kept.
cat > "$root/etc/apt/apt.conf.d/90khamsuckhoe" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
cat > "$root/etc/dpkg/dpkg.cfg.d/90khamsuckhoe-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
# Debian's security fixes for what minbase installed (libc6 and the like): debootstrap takes bookworm's
# release packages only, and a Containerfile upgrades only what it installs.
echo "==> apt-get upgrade (bookworm-security, bookworm-updates)"
chroot "$root" apt-get update -qq
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y -qq upgrade >/dev/null
chroot "$root" apt-get clean
# debootstrap copied this machine's resolver and name: neither belongs in a shipped layer (podman
# mounts its own at run time).
: > "$root/etc/resolv.conf"
: > "$root/etc/hostname"
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/*/changelog* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log
echo "==> podman import → $IMAGE"
tar -C "$root" --numeric-owner -c . | podman import --quiet \
  --change 'ENV LANG=C.UTF-8' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["/bin/bash"]' \
  --message "debootstrap minbase bookworm $(date -u +%Y-%m-%d)" - "$IMAGE" >/dev/null
podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "==> %s: %.0f MB\n", "'"$IMAGE"'", $1 / 1e6}'
