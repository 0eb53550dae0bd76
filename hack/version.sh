#!/usr/bin/env bash
# The version stamp of a build, shared by the Makefile, hack/image.sh and
# hack/release.sh so that every binary reports the same thing.
#
#   hack/version.sh            the version: $VERSION, else
#                              `git describe --tags --dirty --always`, else dev
#   hack/version.sh ldflags    the linker flags that stamp it, with the commit
#                              and the build date, into cmd/ipvs-proxy/version
#
# Environment: VERSION, GIT_COMMIT (default: git rev-parse HEAD), BUILD_DATE
# (default: SOURCE_DATE_EPOCH, else the commit's time, in UTC). The date is
# the commit's rather than the clock's so that building the same commit
# twice gives the same bytes.
set -euo pipefail

cd "$(dirname "$0")/.."
pkg=github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/version

version=${VERSION:-}
if [[ -z $version ]]; then
  version=$(git describe --tags --dirty --always 2>/dev/null || echo dev)
fi

case ${1:-version} in
version)
  echo "$version"
  ;;
ldflags)
  commit=${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
  date=${BUILD_DATE:-}
  if [[ -z $date ]]; then
    epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || true)}
    [[ -n $epoch ]] && date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
  fi
  for v in "$version" "$commit" "$date"; do
    [[ $v =~ ^[A-Za-z0-9._:+-]*$ ]] || { echo "hack/version.sh: unexpected characters in $v" >&2; exit 1; }
  done
  echo "-X $pkg.version=$version -X $pkg.gitCommit=$commit -X $pkg.buildDate=$date"
  ;;
*)
  echo "usage: hack/version.sh [version|ldflags]" >&2
  exit 2
  ;;
esac
