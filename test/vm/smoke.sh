#!/usr/bin/env bash
# smoke.sh: prove the VM harness end to end (make vm-smoke). Serves a greeting
# on host 127.0.0.1 as a stand-in apiserver, then runs the vmtest smoke tests
# in the VM through gotest.sh with --apiserver, so the guest's
# 198.19.255.100:6443 forward is exercised too. Extra args go to the tests.
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$VM_DIR/../.."

"$VM_DIR/run.sh" --prepare # installs socat among the rest on a fresh machine

greeting="hello-from-host-$$"
port="" pid=""
for _ in 1 2 3 4 5; do
	p=$((20000 + RANDOM % 20000))
	socat "TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr,fork" "SYSTEM:echo $greeting" &
	pid=$!
	sleep 0.3
	if kill -0 "$pid" 2>/dev/null; then port=$p && break; fi
done
[[ -n $port ]] || { echo "smoke: cannot listen on 127.0.0.1" >&2; exit 1; }
trap 'kill "$pid" 2>/dev/null || true' EXIT

"$VM_DIR/gotest.sh" --apiserver "127.0.0.1:$port" --env "SMOKE_GREETING=$greeting" \
	./test/vm/smoke -v "$@"
