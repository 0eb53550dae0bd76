#!/usr/bin/env bash
# run.sh: run one command as root inside a throwaway qemu (TCG) VM booted from
# Debian's stock kernel, which has IPVS, nftables, conntrack and SCTP (this
# machine's own kernel has no IPVS). See README.md beside this file.
#
#   test/vm/run.sh [options] -- COMMAND [ARG...]
#
# The first run installs Debian packages, downloads the kernel and builds an
# initramfs into the cache dir ($IPVS_VM_CACHE, default test/vm/.cache); later
# runs only boot. The command's stdout and stderr stream to this stdout; the
# script exits with the command's exit status, or 124 on timeout and 125 when
# the VM itself failed (panic, missing share...), after printing why.
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${IPVS_VM_CACHE:-$VM_DIR/.cache}
# Guest addresses (all inside 198.18.0.0/15 and fd00::/8, see README.md).
GUEST_NET=198.19.255.0/24
GUEST_GW=198.19.255.1
GUEST_IP=198.19.255.15
GUEST_IP6=fd00:198:19:255::15
GUEST_APISERVER=198.19.255.100:6443
HOST_PKGS=(qemu-system-x86 busybox-static kmod socat dash iproute2 ipvsadm nftables
	conntrack ipset iptables tcpdump xz-utils)

usage() {
	cat <<'EOF'
usage: test/vm/run.sh [options] -- COMMAND [ARG...]
  --share DIR          host dir mounted read-write at /share (default: the current dir)
  --mount DIR:GUESTDIR[:ro]  another 9p mount (repeatable)
  --cwd DIR            guest working dir for COMMAND (default /share)
  --env NAME=VALUE     set in COMMAND's environment (repeatable)
  --apiserver HOST:PORT  forward guest 198.19.255.100:6443 to this host address
  --hostfwd SPEC       qemu hostfwd, e.g. tcp:127.0.0.1:18080-:8080 (repeatable)
  --mem MB             guest memory (default 1024)
  --smp N              guest CPUs (default 2)
  --timeout SECONDS    whole-run limit, boot included (default 300)
  -i, --interactive    give COMMAND the terminal as stdin (e.g. -- sh)
  -v, --verbose        show the kernel console and timings on stderr
  --prepare            only install, download and build the cache; do not boot
EOF
	exit 2
}

say() { echo "vm: $*" >&2; }
fail() {
	say "error: $*"
	exit 125
}

SHARE=$PWD GUEST_CWD=/share MEM=1024 SMP=2 TIMEOUT=300 APISERVER="" INTERACTIVE=0
VERBOSE=0 PREPARE_ONLY=0 INTERRUPTED=0
MOUNTS=() ENVS=() HOSTFWDS=()
parse_args() {
	while (($#)); do
		case $1 in
		--share) SHARE=${2:?}; shift ;;
		--mount) MOUNTS+=("${2:?}"); shift ;;
		--cwd) GUEST_CWD=${2:?}; shift ;;
		--env) ENVS+=("${2:?}"); shift ;;
		--apiserver) APISERVER=${2:?}; shift ;;
		--hostfwd) HOSTFWDS+=("${2:?}"); shift ;;
		--mem) MEM=${2:?}; shift ;;
		--smp) SMP=${2:?}; shift ;;
		--timeout) TIMEOUT=${2:?}; shift ;;
		-i | --interactive) INTERACTIVE=1 ;;
		-v | --verbose) VERBOSE=1 ;;
		--prepare) PREPARE_ONLY=1 ;;
		--) shift; break ;;
		-h | --help) usage ;;
		*) say "unknown option $1"; usage ;;
		esac
		shift
	done
	CMD=("$@")
	((PREPARE_ONLY)) || ((${#CMD[@]})) || usage
	[[ $TIMEOUT =~ ^[0-9]+$ && $MEM =~ ^[0-9]+$ && $SMP =~ ^[0-9]+$ ]] ||
		fail "--timeout, --mem and --smp take whole numbers"
	[[ -d $SHARE ]] || fail "--share $SHARE is not a directory"
	SHARE=$(cd "$SHARE" && pwd)
	[[ -z $APISERVER || $APISERVER =~ ^[0-9.]+:[0-9]+$ ]] ||
		fail "--apiserver takes IPv4:PORT on this host, e.g. 127.0.0.1:6443"
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- preparation (cached, under a lock so parallel runs share one build) ---

APT_UPDATED=0
apt_update_once() {
	((APT_UPDATED)) && return
	say "running apt-get update"
	apt-get -o DPkg::Lock::Timeout=300 update >"$CACHE/apt.log" 2>&1 ||
		{ tail -n 20 "$CACHE/apt.log" >&2; fail "apt-get update failed"; }
	APT_UPDATED=1
}

ensure_host_packages() {
	local missing=() p
	PKG_VERSIONS=$(dpkg-query -W -f='${Package} ${Version} ${Status}\n' "${HOST_PKGS[@]}" 2>/dev/null || true)
	for p in "${HOST_PKGS[@]}"; do
		grep -q "^$p .* install ok installed$" <<<"$PKG_VERSIONS" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	[[ $EUID == 0 ]] || fail "missing Debian packages ${missing[*]}: run once as root to install them"
	apt_update_once
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y \
		--no-install-recommends "${missing[@]}" >"$CACHE/apt.log" 2>&1 ||
		{ tail -n 20 "$CACHE/apt.log" >&2; fail "apt-get install ${missing[*]} failed"; }
	PKG_VERSIONS=$(dpkg-query -W -f='${Package} ${Version} ${Status}\n' "${HOST_PKGS[@]}")
}

# ensure_kernel sets KVER and KROOT: Debian's linux-image-amd64 kernel, unpacked
# (never installed) under $CACHE/kernel. The chosen version is pinned in
# $CACHE/kernel/version until the cache is removed or IPVS_VM_KERNEL_PKG says
# otherwise (e.g. IPVS_VM_KERNEL_PKG=linux-image-6.1.0-28-amd64).
ensure_kernel() {
	local pkg=${IPVS_VM_KERNEL_PKG:-} pinned=1
	mkdir -p "$CACHE/kernel"
	if [[ -z $pkg && -s $CACHE/kernel/version ]]; then
		pkg=linux-image-$(cat "$CACHE/kernel/version")
	fi
	if [[ -z $pkg ]]; then
		pinned=0
		pkg=$(resolve_kernel)
		[[ -n $pkg ]] || { apt_update_once; pkg=$(resolve_kernel); }
		[[ -n $pkg ]] || fail "cannot resolve linux-image-amd64 to a kernel package"
	fi
	KVER=${pkg#linux-image-}
	KROOT=$CACHE/kernel/$KVER
	if [[ ! -e $KROOT/boot/vmlinuz-$KVER || ! -e $KROOT/lib/modules/$KVER/modules.dep ]]; then
		if ! fetch_kernel "$pkg" quiet; then # stale apt lists: update once, retry
			apt_update_once
			((pinned)) || pkg=$(resolve_kernel)
			fetch_kernel "$pkg" || fail "apt-get download $pkg failed"
		fi
	fi
	echo "$KVER" >"$CACHE/kernel/version"
	KERNEL=$KROOT/boot/vmlinuz-$KVER
	[[ -s $KROOT/boot/vmlinux-$KVER ]] || extract_vmlinux || true
	[[ ! -s $KROOT/boot/vmlinux-$KVER ]] || KERNEL=$KROOT/boot/vmlinux-$KVER
}

resolve_kernel() {
	apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# fetch_kernel PKG [quiet] downloads and unpacks PKG into $KROOT (setting KVER
# and KROOT); quiet hides apt's error, for a first try that may fail.
fetch_kernel() {
	local pkg=$1 t0 dl err=/dev/stderr
	[[ -z ${2:-} ]] || err=/dev/null
	KVER=${pkg#linux-image-}
	KROOT=$CACHE/kernel/$KVER
	t0=$(now)
	dl=$(mktemp -d "$CACHE/kernel/dl.XXXXXX")
	say "downloading $pkg (apt-get download + dpkg -x; nothing is installed)"
	(cd "$dl" && apt-get download -qq "$pkg" >&2 2>"$err") || { rm -rf "$dl"; return 1; }
	rm -rf "$KROOT" "$KROOT.tmp"
	dpkg -x "$dl"/*.deb "$KROOT.tmp"
	rm -rf "$dl"
	depmod -b "$KROOT.tmp" "$KVER" # the .deb ships no modules.dep
	mv "$KROOT.tmp" "$KROOT"
	say "kernel $KVER ready in $(since "$t0")s"
}

# extract_vmlinux unpacks the ELF kernel from the bzImage. qemu boots it
# directly through its PVH entry point (Debian sets CONFIG_PVH), which skips
# the bzImage's own decompression: ~2.5 s of every TCG boot.
extract_vmlinux() {
	local z=$KROOT/boot/vmlinuz-$KVER out=$KROOT/boot/vmlinux-$KVER off
	off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$z" | head -n1 | cut -d: -f1)
	[[ -n $off ]] || return 1
	tail -c +$((off + 1)) "$z" | xz -dc >"$out.tmp" 2>/dev/null || true # trailing data is expected
	if [[ $(head -c4 "$out.tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] &&
		grep -q '^CONFIG_PVH=y' "$KROOT/boot/config-$KVER"; then
		mv "$out.tmp" "$out"
	else
		rm -f "$out.tmp"
		return 1
	fi
}

# ensure_initramfs sets INITRD, rebuilt whenever its inputs change.
ensure_initramfs() {
	local key
	key=$({
		echo "$KVER"
		cat "$VM_DIR/initramfs.sh" "$VM_DIR/init.sh" "$VM_DIR/modules.txt"
		echo "$PKG_VERSIONS"
	} | sha256sum | cut -c1-16)
	INITRD=$CACHE/initramfs-$key.img
	[[ -s $INITRD ]] && return
	local t0
	t0=$(now)
	rm -f "$CACHE"/initramfs-*.img
	bash "$VM_DIR/initramfs.sh" "$KROOT" "$KVER" "$INITRD" || fail "initramfs build failed"
	say "initramfs built in $(since "$t0")s"
}

prepare() {
	mkdir -p "$CACHE/runs"
	exec 9>"$CACHE/lock"
	flock 9
	ensure_host_packages
	ensure_kernel
	ensure_initramfs
	flock -u 9
	exec 9>&-
}

# --- one run ---

# shq ARG: ARG quoted for a POSIX shell.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# write_control fills the per-run control share: cmd.sh, mounts, options.
write_control() {
	local e m arg0=${CMD[0]} i=0 rest
	{
		echo "export IPVS_VM=1 IPVS_VM_NODE_IP=$GUEST_IP IPVS_VM_NODE_IP6=$GUEST_IP6"
		[[ -z $APISERVER ]] || echo "export IPVS_VM_APISERVER=$GUEST_APISERVER"
		for e in "${ENVS[@]}"; do
			[[ $e == [A-Za-z_]*=* ]] || fail "--env takes NAME=VALUE, got $e"
			echo "export $(shq "$e")"
		done
		echo "cd $(shq "$GUEST_CWD") || exit 126"
		# Resolve a bare command name through PATH here, so a busybox applet of
		# the same name never wins over a real binary.
		if [[ $arg0 != */* ]]; then
			echo "p=\$(command -v $(shq "$arg0")) || { echo 'vm: command not found: '$(shq "$arg0") >&2; exit 127; }"
			# shellcheck disable=SC2016 # $p expands in the guest
			printf 'exec "$p"'
		else
			printf 'exec %s' "$(shq "$arg0")"
		fi
		for arg in "${CMD[@]:1}"; do printf ' %s' "$(shq "$arg")"; done
		echo
	} >"$RUN/cmd.sh"
	: >"$RUN/mounts"
	for m in "${MOUNTS[@]}"; do
		IFS=: read -r host guest rest <<<"$m"
		[[ -d $host && $guest == /* && ($rest == "" || $rest == ro) ]] ||
			fail "--mount takes HOSTDIR:/GUESTDIR[:ro], got $m"
		i=$((i + 1))
		QEMU+=(-virtfs "local,path=$(cd "$host" && pwd),mount_tag=m$i,security_model=none,multidevs=remap${rest:+,readonly=on}")
		echo "m$i $guest${rest:+ ro}" >>"$RUN/mounts"
	done
	echo "share /share" >>"$RUN/mounts"
	if ((INTERACTIVE)); then echo interactive >"$RUN/options"; fi
}

build_qemu_args() {
	local net="user,id=n0,net=$GUEST_NET,host=$GUEST_GW,ipv6-net=fd00:198:19:255::/64"
	net+=",ipv6-host=fd00:198:19:255::1,restrict=on"
	[[ -z $APISERVER ]] || net+=",guestfwd=tcp:$GUEST_APISERVER-cmd:socat STDIO TCP:$APISERVER"
	local f
	for f in "${HOSTFWDS[@]}"; do net+=",hostfwd=$f"; done
	# KVM is not usable on this host (PVM-only /dev/kvm), hence TCG.
	# shellcheck disable=SC2054 # commas belong to qemu's option values
	QEMU=(qemu-system-x86_64 -nodefaults -no-reboot -accel tcg -cpu "${IPVS_VM_CPU:-qemu64}"
		-smp "$SMP" -m "$MEM" -display none -vga none -monitor none
		-kernel "$KERNEL" -initrd "$INITRD"
		-append "console=ttyS0 quiet panic=-1 rdinit=/init dummy.numdummies=0 ${IPVS_VM_APPEND:-}"
		-chardev "file,id=con,path=$RUN/console.log" -serial chardev:con
		-chardev stdio,id=out -serial chardev:out
		-netdev "$net" -device virtio-net-pci,netdev=n0
		-virtfs "local,path=$RUN,mount_tag=vmctl,security_model=none"
		-virtfs "local,path=$SHARE,mount_tag=share,security_model=none,multidevs=remap")
	# Debugging knob: extra qemu arguments, split on spaces.
	# shellcheck disable=SC2206
	[[ -z ${IPVS_VM_QEMU_ARGS:-} ]] || QEMU+=($IPVS_VM_QEMU_ARGS)
}

# run_qemu runs qemu under timeout, which sits in its own process group:
# forward INT/TERM/HUP to it so that stopping this script stops the VM.
run_qemu() {
	local pid rc
	timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null &
	pid=$!
	trap 'kill -TERM "$pid" 2>/dev/null; INTERRUPTED=1' INT TERM HUP
	while true; do
		rc=0
		wait "$pid" || rc=$?
		kill -0 "$pid" 2>/dev/null || break # else a trapped signal ended the wait
	done
	trap - INT TERM HUP
	return "$rc"
}

# diagnose QEMU_RC: explain a run that left no exit status.
diagnose() {
	local qrc=$1 why
	if ((qrc == 124 || qrc == 137)); then
		why="timed out after ${TIMEOUT}s (raise --timeout?)"
	elif grep -q 'Kernel panic' "$RUN/console.log" 2>/dev/null; then
		why="the guest kernel panicked: $(grep -m1 -o 'Kernel panic.*' "$RUN/console.log")"
	elif grep -q 'vm: FATAL' "$RUN/console.log" 2>/dev/null; then
		why=$(grep -m1 'vm: FATAL' "$RUN/console.log")
	else
		why="the VM stopped without a result (qemu exit status $qrc)"
	fi
	say "error: $why; last kernel console lines:"
	tail -n 30 "$RUN/console.log" 2>/dev/null | sed 's/^/vm: | /' >&2
	((qrc == 124 || qrc == 137)) && exit 124
	exit 125
}

main() {
	parse_args "$@"
	local t0
	t0=$(now)
	prepare
	((PREPARE_ONLY)) && { say "cache ready in $CACHE (kernel $KVER)"; exit 0; }
	find "$CACHE/runs" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
	RUN=$(mktemp -d "$CACHE/runs/run.XXXXXX")
	[[ -n ${IPVS_VM_KEEP:-} ]] || trap 'rm -rf "$RUN"' EXIT
	build_qemu_args
	write_control
	((VERBOSE)) && say "prepared in $(since "$t0")s; booting kernel $KVER (run dir $RUN)"
	local tail_pid="" qrc=0 tb
	if ((VERBOSE)); then
		: >"$RUN/console.log"
		tail -n +1 -f "$RUN/console.log" > >(sed 's/^/vm: | /' >&2) &
		tail_pid=$!
	fi
	tb=$(now)
	if ((INTERACTIVE)); then
		# In the terminal's process group, so qemu may read it; Ctrl-C ends qemu.
		timeout --foreground -k 5 "$TIMEOUT" "${QEMU[@]}" || qrc=$?
	else
		run_qemu || qrc=$?
	fi
	[[ -z $tail_pid ]] || { sleep 0.2; kill "$tail_pid" 2>/dev/null || true; }
	((!INTERRUPTED)) || { say "interrupted: VM stopped"; exit 130; }
	[[ -s $RUN/rc ]] || diagnose "$qrc"
	grep -h '^vm: modules not loaded' "$RUN/console.log" >&2 || true
	if ((VERBOSE)); then
		say "guest uptime at command start $(cat "$RUN/boot" 2>/dev/null)s; VM ran $(since "$tb")s; total $(since "$t0")s"
	fi
	exit "$(cat "$RUN/rc")"
}

main "$@"
