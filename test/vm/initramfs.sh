#!/usr/bin/env bash
# initramfs.sh KROOT KVER OUT: build the test VM's initramfs (newc cpio)
# into OUT. Called by run.sh, which caches OUT by a hash of its inputs.
#
# Contents:
#   - busybox (static) for the basic applets, but dash as /bin/sh and the real
#     env, timeout, xargs, setsid, nsenter... Busybox runs its own applet
#     whenever one has the name (its ash and the applets that exec commands
#     ignore PATH for that), so `timeout 5 ip netns ...` under busybox would
#     get busybox's ip, which has no netns or veth support;
#   - dynamic debugging and comparison tools with the libraries ldd reports:
#     ip, ss, ipvsadm, nft, conntrack, ipset, iptables(-nft/-legacy), tcpdump;
#   - the kernel modules listed in modules.txt and their dependencies;
#   - init.sh as /init, the module list as /etc/vm-modules, minimal /etc.
set -euo pipefail

KROOT=$1 KVER=$2 OUT=$3
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
R=$(mktemp -d "${OUT%/*}/initramfs.XXXXXX")
trap 'rm -rf "$R"' EXIT

# Debian's layout is usr-merged: keep it so ldd's paths land correctly.
mkdir -p "$R"/usr/{bin,sbin,lib,lib64} "$R"/{proc,sys,dev,run,tmp,etc,root,share,vm,var/tmp}
ln -s usr/bin "$R/bin"
ln -s usr/sbin "$R/sbin"
ln -s usr/lib "$R/lib"
ln -s usr/lib64 "$R/lib64"
ln -s ../run "$R/var/run"
chmod 1777 "$R/tmp" "$R/var/tmp"

# copy_dyn FILE...: copy each file (following symlinks) and its libraries.
copy_dyn() {
	local f lib
	for f in "$@"; do
		mkdir -p "$R$(dirname "$f")"
		cp -L "$f" "$R$f"
		for lib in $(ldd "$f" 2>/dev/null | grep -oE '/[^ ]+'); do
			[[ -e $R$lib ]] && continue
			mkdir -p "$R$(dirname "$lib")"
			cp -L "$lib" "$R$lib"
		done
	done
}

copy_dyn /usr/bin/dash /usr/sbin/ip /usr/bin/ss /usr/sbin/ipvsadm /usr/sbin/nft \
	/usr/sbin/conntrack /usr/sbin/ipset /usr/bin/tcpdump \
	/usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi \
	/usr/bin/env /usr/bin/timeout /usr/bin/nohup /usr/bin/nice /usr/bin/xargs /usr/sbin/chroot \
	/usr/bin/setsid /usr/bin/nsenter /usr/bin/unshare
ln -s dash "$R/usr/bin/sh"
for x in iptables ip6tables; do
	for s in "" -save -restore; do
		ln -s xtables-nft-multi "$R/usr/sbin/$x$s"
		ln -s xtables-nft-multi "$R/usr/sbin/$x-nft$s"
		ln -s xtables-legacy-multi "$R/usr/sbin/$x-legacy$s"
	done
done
# iptables dlopen()s its match/target extensions.
xt=/usr/lib/x86_64-linux-gnu/xtables
mkdir -p "$R$xt"
cp -a "$xt"/. "$R$xt/"
mapfile -t xtlibs < <(find "$xt" -name '*.so' -type f)
copy_dyn "${xtlibs[@]}"

# busybox for everything else; never over a real binary copied above.
cp /usr/bin/busybox "$R/usr/bin/busybox"
for a in $(/usr/bin/busybox --list-full); do
	[[ -e $R/$a || -L $R/$a ]] && continue
	[[ -e $R/usr/bin/${a##*/} || -e $R/usr/sbin/${a##*/} ]] && continue
	mkdir -p "$R/$(dirname "$a")"
	ln -s /usr/bin/busybox "$R/$a"
done

# Kernel modules: the list, then everything modprobe says they need.
mods=() optional=()
while read -r m _; do
	case $m in
	'' | '#'*) ;;
	'?'*) optional+=("${m#\?}") ;;
	*) mods+=("$m") ;;
	esac
done <"$VM_DIR/modules.txt"
for m in "${optional[@]}"; do
	if modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" >/dev/null 2>&1; then mods+=("$m"); fi
done
kmods=$KROOT/lib/modules/$KVER
deps=$(modprobe -d "$KROOT" -S "$KVER" --show-depends -a "${mods[@]}") || {
	echo "initramfs: a module in modules.txt is missing from kernel $KVER" >&2
	exit 1
}
for f in $(awk '$1 == "insmod" { print $2 }' <<<"$deps" | sort -u); do
	rel=${f#"$kmods"/}
	mkdir -p "$R/lib/modules/$KVER/$(dirname "$rel")"
	cp "$f" "$R/lib/modules/$KVER/$rel"
done
cp "$kmods"/modules.{builtin,builtin.modinfo,order} "$R/lib/modules/$KVER/"
depmod -b "$R" "$KVER"
printf '%s\n' "${mods[@]}" >"$R/etc/vm-modules"

# /etc: what Go's net package, iproute2, ipset and iptables look up.
cp /etc/protocols /etc/services "$R/etc/"
cp -a /etc/iproute2 "$R/etc/" 2>/dev/null || true
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
echo 'hosts: files' >"$R/etc/nsswitch.conf"
printf '127.0.0.1\tlocalhost ipvs-vm\n::1\tlocalhost ip6-localhost\n' >"$R/etc/hosts"
: >"$R/etc/resolv.conf"
ln -s /proc/self/mounts "$R/etc/mtab"

install -m 0755 "$VM_DIR/init.sh" "$R/init"

# Uncompressed: qemu loads it in no time, while gunzip under TCG costs ~1 s of
# every boot.
(cd "$R" && find . | LC_ALL=C sort | /usr/bin/busybox cpio -o -H newc 2>/dev/null) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "initramfs: $(du -h "$OUT" | cut -f1)," \
	"$(find "$R/lib/modules" -name '*.ko' | wc -l) modules, kernel $KVER" >&2
