#!/usr/bin/env bash
# build.sh builds the real Kubernetes binaries that the integration tests, the VM
# suite and the manifest checks run: kube-apiserver, etcd, kubectl and kube-proxy,
# from the Go module proxy only (no binary downloads).
#
#   test/apiserver/build.sh [OUT_DIR]
#
# OUT_DIR defaults to ${IPVS_PROXY_CACHE:-$HOME/.cache/ipvs-proxy}/k8s-<version>/bin,
# which is where the Go package test/apiserver looks when IPVS_PROXY_K8S_BIN is unset.
# COMPONENTS="kube-apiserver etcd" limits what is built.
#
# The versions come from the build-only module in bins/ (its own go.mod, so the
# daemon's stays small; update.sh there moves it to another release). Each binary
# is stamped with the release (unstamped ones report v0.0.0-master and kubectl
# refuses to parse that), stripped (-s -w) and static (CGO_ENABLED=0, so
# kube-proxy also runs inside the VM's initramfs).
#
# Cached: next to each binary a .inputs file records a hash of everything the
# build depends on (go.mod, go.sum, Go version, flags). A binary whose hash
# matches is not rebuilt, and go is not even asked, so a CI cache of OUT_DIR alone
# is enough. A cold build takes about 5 minutes on 2 cores and needs ~0.8 GB of
# module cache and ~3 GB of build cache; the link of kube-apiserver peaks near
# 2.8 GB of memory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod=$here/bins
command -v go >/dev/null 2>&1 || export PATH=/usr/local/go/bin:$PATH

version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$mod/go.mod")
[[ $version =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || { echo "build.sh: no k8s.io/kubernetes version in $mod/go.mod" >&2; exit 1; }
minor=${BASH_REMATCH[1]}
out=${1:-${IPVS_PROXY_CACHE:-$HOME/.cache/ipvs-proxy}/k8s-$version/bin}
components=${COMPONENTS:-kube-apiserver etcd kubectl kube-proxy}

mkdir -p "$out"
out=$(cd "$out" && pwd)
# Two builds into one OUT_DIR (make integration and make e2e side by side) wait
# for each other instead of racing on the same files.
exec 9>"$out/.lock"
flock 9

# A fixed build date keeps the link inputs, hence the hash, stable across runs.
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
export CGO_ENABLED=0

package_of() {
  case $1 in
    etcd) echo go.etcd.io/etcd/server/v3 ;; # the module's root package is etcd's main
    kube-apiserver | kubectl | kube-proxy) echo "k8s.io/kubernetes/cmd/$1" ;;
    *) echo "build.sh: unknown component $1" >&2; return 1 ;;
  esac
}

inputs_of() { # hash of what the binary for package $1 is built from
  {
    echo "$1"
    echo "$ldflags"
    go env GOVERSION GOOS GOARCH GOAMD64 CGO_ENABLED
    cat "$mod/go.mod" "$mod/go.sum"
  } | sha256sum | cut -d' ' -f1
}

since() { awk -v s="$1" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", n - s }'; }

total_start=$EPOCHREALTIME
for c in $components; do
  pkg=$(package_of "$c")
  want=$(inputs_of "$pkg")
  if [[ -x $out/$c && -f $out/.$c.inputs && $(<"$out/.$c.inputs") == "$want" ]]; then
    echo "build.sh: $c is up to date"
    continue
  fi
  start=$EPOCHREALTIME
  rm -f "$out/.$c.inputs"
  (cd "$mod" && go build -ldflags "$ldflags" -o "$out/.$c.tmp" "$pkg")
  mv -f "$out/.$c.tmp" "$out/$c"
  echo "$want" >"$out/.$c.inputs"
  echo "build.sh: built $c in $(since "$start") ($(du -h "$out/$c" | cut -f1))"
done
echo "build.sh: $version ready in $out after $(since "$total_start")"
echo "export IPVS_PROXY_K8S_BIN=$out"
