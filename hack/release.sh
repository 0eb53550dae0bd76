#!/usr/bin/env bash
# Builds a release into bin/release/ (`make release`):
#
#   ipvs-proxy-VERSION-linux-ARCH            static binary (CGO_ENABLED=0, -trimpath, stamped)
#   ipvs-proxy-VERSION-linux-ARCH.oci.tar    OCI image archive of that same binary,
#                                            named ipvs-proxy:VERSION (hack/image.sh)
#   ipvs-proxy-VERSION.sha256                sha256sum of all of the above
#
# for each ARCH of RELEASE_ARCHES (default: amd64 arm64). VERSION defaults to
# hack/version.sh's (git describe); IMAGE_REPO (default ipvs-proxy) names the
# image. Offline once the modules and crane are in their caches.
#
# Release from a clean checkout of the tag (git clone, git checkout vX.Y.Z):
# a tree with uncommitted changes builds them in and is versioned "-dirty".
set -euo pipefail

cd "$(dirname "$0")/.."
VERSION=${VERSION:-$(hack/version.sh)}
export VERSION
RELEASE_ARCHES=${RELEASE_ARCHES:-amd64 arm64}
IMAGE_REPO=${IMAGE_REPO:-ipvs-proxy}
OUT=bin/release
ldflags="-s -w $(hack/version.sh ldflags)"

if [[ $VERSION == *-dirty ]]; then
  echo "warning: version $VERSION: the tree has uncommitted changes, which this release contains" >&2
fi
mkdir -p "$OUT"
files=()
for arch in $RELEASE_ARCHES; do
  bin=ipvs-proxy-$VERSION-linux-$arch
  echo "Building $OUT/$bin" >&2
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "$ldflags" -o "$OUT/$bin" ./cmd/ipvs-proxy
  GOARCH=$arch IMAGE=$IMAGE_REPO:$VERSION BINARY=$OUT/$bin hack/image.sh "$OUT/$bin.oci.tar"
  files+=("$bin" "$bin.oci.tar")
done
(cd "$OUT" && sha256sum "${files[@]}" >"ipvs-proxy-$VERSION.sha256")
echo "Release $VERSION in $OUT:" >&2
(cd "$OUT" && ls -l "${files[@]}" "ipvs-proxy-$VERSION.sha256") >&2
