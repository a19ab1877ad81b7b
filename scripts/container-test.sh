#!/usr/bin/env bash
# Builds the container image from a binary cargo already built (nothing is compiled
# here) and checks it as a user would run it: /healthz, its HEALTHCHECK, a token
# minted inside the container, a Graph create and list, data kept across a restart on
# a volume, a non-root process, and a SIGTERM stop within the grace.
#
# Needs root on a Debian machine without a Docker daemon or an image registry: it
# installs Debian's podman (with runc) and debootstrap when missing, and makes the
# debian:bookworm-slim base from Debian's mirror (kept between runs).
#
#   scripts/container-test.sh [BINARY]      default: target/release/cloudpc-partners
set -euo pipefail
cd "$(dirname "$0")/.."

binary=$(realpath "${1:-target/release/cloudpc-partners}")
work=$(realpath "${CARGO_TARGET_DIR:-target}")/container
image=localhost/cloudpc-partners:test
name=cloudpc-partners-test-$$
mkdir -p "$work"
started=$(date +%s)
say() { echo "[container $(($(date +%s) - started))s] $*"; }

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  say "installing Debian's podman, runc and debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi

# This VM kind: crun refuses its hybrid cgroup layout (runc works), and podman's
# default container rlimits are above the VM's hard limits (no CAP_SYS_RESOURCE).
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu); { [ "$nproc" = unlimited ] || [ "$nproc" -gt 16384 ]; } && nproc=16384
cat > "$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"

# The base image, made from Debian's mirror when no registry is reachable.
if ! podman image exists debian:bookworm-slim; then
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
  say "making debian:bookworm-slim with debootstrap from $mirror"
  rm -rf "$work/rootfs"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log"
  chroot "$work/rootfs" apt-get clean
  rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/usr/share/doc/* "$work"/rootfs/usr/share/man/*
  tar -C "$work/rootfs" -c . | podman import -q - localhost/debian:bookworm-slim >/dev/null
  podman tag localhost/debian:bookworm-slim docker.io/library/debian:bookworm-slim
  rm -rf "$work/rootfs"
fi

# The binary, its debug information stripped, where .containerignore lets it through;
# the context is the repository, as a user builds it.
objcopy --strip-debug "$binary" "$work/cloudpc-partners"
relative=$(realpath --relative-to=. "$work/cloudpc-partners")
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
source=$(git remote get-url origin 2>/dev/null || echo unknown)
podman build -q --format docker --pull=never --build-arg "BINARY=$relative" \
  --build-arg "REVISION=$revision" --build-arg "SOURCE=$source" -t "$image" . >/dev/null
size=$(podman image inspect "$image" --format '{{.Size}}')
say "built $image: $((size / 1000000)) MB"

# Podman cannot reach systemd here to time health checks; `podman healthcheck run`
# below checks the same command by hand. Its complaints about that are dropped.
quiet() { "$@" 2> >(grep -v 'systemd connection' >&2); }

cleanup() {
  podman rm -f -t 2 "$name" >/dev/null 2>&1 || true
  podman volume rm -f "$name-data" >/dev/null 2>&1 || true
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
set_url="$base/beta/deviceManagement/virtualEndpoint/externalPartners"
wait_healthy() {
  for _ in $(seq 1 150); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  podman logs "$name" >&2 || true
  echo "the container never answered /healthz" >&2
  return 1
}

quiet podman run -d --pull=never --name "$name" -p "127.0.0.1:$port:8080" -v "$name-data:/data" "$image" >/dev/null
wait_healthy
[ "$(curl -fsS "$base/healthz")" = ok ]
podman healthcheck run "$name" >/dev/null
user=$(podman exec "$name" id -u)
[ "$user" != 0 ] || { echo "the service runs as root" >&2; exit 1; }
tenant=11111111-1111-4111-8111-111111111111
token=$(podman exec "$name" cloudpc-partners token --data-dir /data --tenant "$tenant")
curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"partnerId":"198d7140-80bb-4843-8cc4-811377a49a92","enableConnection":true}' "$set_url" >/dev/null
say "healthy (its HEALTHCHECK too), user $user, a token minted inside, a connection created"

quiet podman restart -t 10 "$name" >/dev/null
wait_healthy
listed=$(curl -fsS -H "Authorization: Bearer $token" "$set_url")
echo "$listed" | grep -q '198d7140-80bb-4843-8cc4-811377a49a92' \
  || { echo "the connection did not survive a restart: $listed" >&2; exit 1; }
say "restarted: the volume kept the connection and the signing key"

stop_started=$(date +%s%N)
quiet podman stop -t 10 "$name" >/dev/null
stop_ms=$((($(date +%s%N) - stop_started) / 1000000))
code=$(podman inspect "$name" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || { echo "SIGTERM ended it with exit code $code" >&2; exit 1; }
[ "$stop_ms" -lt 10000 ] || { echo "SIGTERM took ${stop_ms} ms (grace 10 s)" >&2; exit 1; }
say "SIGTERM stopped it cleanly in ${stop_ms} ms"
echo "container: 4 passed, 0 failed"
