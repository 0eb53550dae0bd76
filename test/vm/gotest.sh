#!/usr/bin/env bash
# gotest.sh: `go test` for real-kernel tests, run as root inside the test VM.
#
#   test/vm/gotest.sh [run.sh options] PACKAGES [test flags]
#   e.g. test/vm/gotest.sh ./test/kernel/... -v -run IPVS
#        test/vm/gotest.sh --timeout 600 --apiserver 127.0.0.1:6443 ./test/e2e -v
#
# Each package matched by PACKAGES (a go list pattern, relative to the current
# dir) is compiled with `CGO_ENABLED=0 go test -c -tags vmtest`; all binaries
# then run in ONE VM boot, each in its own package dir (the module root is the
# guest's /share, read-write, so testdata/ and -update work). Short test flags
# (-v, -run, -count...) are turned into the -test.* form a test binary takes;
# -test.timeout defaults to 20 s under run.sh's --timeout (300 s), so a hung
# test dumps its goroutines instead of being killed with the VM.
# Prints go test's "ok"/"FAIL" line per package; exits 0 if all passed, else
# with the failing binary's status (or run.sh's 124/125 when the VM failed).
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${IPVS_VM_CACHE:-$VM_DIR/.cache}
export PATH=$PATH:/usr/local/go/bin

die() {
	echo "gotest: $*" >&2
	exit 1
}

# run.sh options come first; those listed here take a value.
RUN_OPTS=() VM_TIMEOUT=300
while (($#)) && [[ $1 == -* ]]; do
	case $1 in
	--timeout | --mem | --smp | --apiserver | --hostfwd | --env | --mount)
		(($# >= 2)) || die "$1 needs a value"
		RUN_OPTS+=("$1" "$2")
		[[ $1 != --timeout ]] || VM_TIMEOUT=$2
		shift 2
		;;
	-v | --verbose) RUN_OPTS+=(--verbose); shift ;;
	*) die "unknown run.sh option $1 (usage: gotest.sh [run.sh options] PACKAGES [test flags])" ;;
	esac
done
(($#)) || die "usage: gotest.sh [run.sh options] PACKAGES [test flags]"
PATTERN=$1
shift

# go test's own flags, which a compiled test binary only knows as -test.NAME.
TEST_FLAGS=" bench benchmem benchtime blockprofile blockprofilerate count coverprofile cpu
 cpuprofile failfast fullpath list memprofile memprofilerate mutexprofile mutexprofilefraction
 outputdir parallel run short shuffle skip timeout trace v "
ARGS=()
while (($#)); do
	case $1 in
	-args) shift; ARGS+=("$@"); break ;;
	--*) ARGS+=("$1") ;;
	-*)
		name=${1#-}
		name=${name%%=*}
		if [[ $TEST_FLAGS == *" $name "* ]]; then ARGS+=("-test.${1#-}"); else ARGS+=("$1"); fi
		;;
	*) ARGS+=("$1") ;;
	esac
	shift
done

# Unless told otherwise, a hung test panics (printing every goroutine) before
# run.sh kills the whole VM.
if [[ " ${ARGS[*]} " != *" -test.timeout"* && $VM_TIMEOUT =~ ^[0-9]+$ ]] && ((VM_TIMEOUT > 40)); then
	ARGS=("-test.timeout=$((VM_TIMEOUT - 20))s" "${ARGS[@]}")
fi

MODROOT=$(dirname "$(go env GOMOD)")
[[ -f $MODROOT/go.mod ]] || die "not inside a Go module"
mapfile -t PKGS < <(go list -tags vmtest -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' "$PATTERN")
((${#PKGS[@]})) || die "no test files in $PATTERN (with -tags vmtest)"

mkdir -p "$CACHE/gotest"
BIN=$(mktemp -d "$CACHE/gotest/bin.XXXXXX")
trap 'rm -rf "$BIN"' EXIT

# The guest side: one script runs every binary and prints go test's lines.
{
	echo 'rc=0'
	echo 'up() { cut -d" " -f1 /proc/uptime; }'
}>"$BIN/run.sh"
i=0
for entry in "${PKGS[@]}"; do
	ip=${entry%% *} dir=${entry#* }
	i=$((i + 1))
	rel=${dir#"$MODROOT"}
	CGO_ENABLED=0 go test -c -tags vmtest -o "$BIN/$i.test" "$ip" || die "building $ip failed"
	cat >>"$BIN/run.sh" <<EOF
cd '/share$rel' && t0=\$(up) && /vmbin/$i.test "\$@"; r=\$?
t=\$(awk -v a="\$t0" -v b="\$(up)" 'BEGIN { printf "%.3fs", b - a }')
if [ \$r = 0 ]; then printf 'ok  \t%s\t%s\n' '$ip' "\$t"; else printf 'FAIL\t%s\t%s\n' '$ip' "\$t"; rc=\$r; fi
EOF
done
# shellcheck disable=SC2016 # $rc expands in the guest
echo 'exit $rc' >>"$BIN/run.sh"

exec_rc=0
"$VM_DIR/run.sh" "${RUN_OPTS[@]}" --share "$MODROOT" --mount "$BIN:/vmbin:ro" --cwd /share \
	-- sh /vmbin/run.sh "${ARGS[@]}" || exec_rc=$?
exit "$exec_rc"
