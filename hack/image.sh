#!/usr/bin/env bash
# Builds the ipvs-proxy container image as an OCI image archive, without a
# container engine and without pulling anything: the image is `FROM scratch`
# plus one layer holding the static binary, the same image the Dockerfile
# makes.
#
#   hack/image.sh [OUT]        default OUT: bin/ipvs-proxy-image.tar
#
# Environment: IMAGE (the name recorded in the archive, default
# ipvs-proxy:dev), GOARCH (default: the Go toolchain's), CRANE_VERSION,
# VERSION (the version stamped into the binary, default from
# hack/version.sh), BINARY (a static linux/GOARCH binary already built and
# stamped, as hack/release.sh passes it, instead of building one).
#
# The binary is at /ipvs-proxy, the entrypoint, and also answers at
# /usr/local/bin/kube-proxy, a symbolic link to it: kubeadm's kube-proxy
# DaemonSet runs `command: [/usr/local/bin/kube-proxy, --config=...]`, so
# changing only its image to this one works. The link costs a tar header
# per path element (2 KiB before compression, about 100 bytes after), not a
# second copy of the binary; the Dockerfile makes the same link.
#
# Load the archive on a node with `ctr -n k8s.io images import OUT`, or with
# `podman load`, `skopeo copy oci-archive:OUT ...`, `docker load` (25+).
#
# Tool: crane, from github.com/google/go-containerregistry (the library ko
# and many registries' tools are built on), installed at a pinned version
# into the project cache, never into go.mod. crane edits images only in a
# registry, so the script runs crane's own in-memory registry on 127.0.0.1
# for the few seconds of the build. ko was the other candidate; it cannot
# start from scratch: it always pulls its base image from a registry or a
# Docker daemon.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${1:-bin/ipvs-proxy-image.tar}
IMAGE=${IMAGE:-ipvs-proxy:dev}
GOARCH=${GOARCH:-$(go env GOARCH)}
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}
CACHE=${IPVS_PROXY_CACHE:-$HOME/.cache/ipvs-proxy}
CRANE=$CACHE/tools/crane-$CRANE_VERSION/crane

last=${IMAGE##*/}
if [[ $last == *:* ]]; then tag=${last##*:}; else tag=latest IMAGE=$IMAGE:latest; fi
# The full name containerd records: docker.io/library/ for a bare name.
first=${IMAGE%%/*}
if [[ $IMAGE == */* && ($first == *.* || $first == *:* || $first == localhost) ]]; then
  full=$IMAGE
elif [[ $IMAGE == */* ]]; then
  full=docker.io/$IMAGE
else
  full=docker.io/library/$IMAGE
fi

if [[ ! -x $CRANE ]]; then
  echo "Installing crane $CRANE_VERSION into ${CRANE%/crane}" >&2
  (cd / && GOBIN=${CRANE%/crane} GOFLAGS='' go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION")
fi

work=$(mktemp -d)
registry_pid=
cleanup() {
  if [[ -n $registry_pid ]]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The binary, built and stamped as `make build` builds it, and the
#    kube-proxy path, relative so that it resolves in any unpacked copy too.
mkdir -p "$work/root/usr/local/bin"
if [[ -n ${BINARY:-} ]]; then
  cp "$BINARY" "$work/root/ipvs-proxy"
else
  CGO_ENABLED=0 GOOS=linux GOARCH=$GOARCH go build -trimpath -ldflags "-s -w $(hack/version.sh ldflags)" \
    -o "$work/root/ipvs-proxy" ./cmd/ipvs-proxy
fi
ln -s ../../../ipvs-proxy "$work/root/usr/local/bin/kube-proxy"

# 2. One layer, byte-for-byte reproducible: fixed owner, mode and time.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=0755 \
  -C "$work/root" -cf "$work/layer.tar" ipvs-proxy usr

# 3. crane's registry, loopback only, on a port the kernel picks.
"$CRANE" registry serve --address 127.0.0.1:0 >"$work/registry.log" 2>&1 &
registry_pid=$!
port=
for _ in $(seq 50); do
  port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$work/registry.log")
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { echo "crane registry did not start:" >&2; cat "$work/registry.log" >&2; exit 1; }
ref=127.0.0.1:$port/ipvs-proxy:$tag

# 4. scratch + the layer, then the config: entrypoint, root user (the
#    DaemonSet adds NET_ADMIN, which Kubernetes grants to root only), platform.
"$CRANE" append --oci-empty-base -f "$work/layer.tar" -t "$ref" >/dev/null 2>"$work/crane.log" ||
  { cat "$work/crane.log" >&2; exit 1; }
"$CRANE" mutate "$ref" -t "$ref" --entrypoint=/ipvs-proxy --user=0:0 --set-platform="linux/$GOARCH" \
  -l org.opencontainers.image.title=ipvs-proxy -l "org.opencontainers.image.version=$(hack/version.sh)" >/dev/null 2>"$work/crane.log" ||
  { cat "$work/crane.log" >&2; exit 1; }

# 5. Out as an OCI layout, named IMAGE instead of the temporary registry's
#    address, then archived.
"$CRANE" pull --format=oci --annotate-ref "$ref" "$work/layout" 2>"$work/crane.log" ||
  { cat "$work/crane.log" >&2; exit 1; }
sed -i "s|\"org.opencontainers.image.ref.name\": \"$ref\"|\"io.containerd.image.name\": \"$full\", \"org.opencontainers.image.ref.name\": \"$tag\"|" \
  "$work/layout/index.json"
grep -q "\"io.containerd.image.name\": \"$full\"" "$work/layout/index.json" ||
  { echo "could not name the image in index.json:" >&2; cat "$work/layout/index.json" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=a+rX,u+w -C "$work/layout" -cf "$OUT" .

digest=$("$CRANE" digest "$ref")
echo "Wrote $OUT: $full ($digest), $(du -h "$OUT" | cut -f1) archive, binary $(du -h "$work/root/ipvs-proxy" | cut -f1)"
