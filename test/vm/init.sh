#!/bin/sh
# PID 1 of the ipvs-proxy test VM (copied into the initramfs as /init by
# initramfs.sh; /bin/sh there is dash, so busybox applets never shadow the
# real ip, ipvsadm, nft... binaries).
#
# Contract with run.sh (the host side), through the 9p share tagged "vmctl"
# and mounted at /vm:
#   /vm/cmd.sh   the command to run (environment, cwd, exec), written by run.sh
#   /vm/mounts   9p shares to mount: "TAG GUESTDIR [ro]" per line
#   /vm/options  "interactive" when the command gets the console as stdin
#   /vm/rc       written here: the command's exit status
#   /vm/boot     written here: guest uptime when the command started
# The kernel console is ttyS0 (a log file on the host); the command's stdout
# and stderr go to ttyS1, which run.sh streams to the host's stdout.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp TERM=dumb

log() { echo "vm: $*" >/dev/console; }
die() {
	log "FATAL: $*"
	poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns /run/lock /var/run
hostname ipvs-vm

# Modules: one modprobe for the whole list (each exec costs ~65 ms under TCG).
# modules.txt order puts crc32c_generic first; see the comment there.
# shellcheck disable=SC2046 # one module name per word
modprobe -a $(cat /etc/vm-modules) 2>/dev/console
missing=""
for m in $(cat /etc/vm-modules); do
	[ -d "/sys/module/$m" ] || grep -q "/$m.ko" /lib/modules/*/modules.builtin ||
		missing="$missing $m"
done
[ -z "$missing" ] || log "modules not loaded:$missing"

# The control share, then the user's shares.
p9opts=trans=virtio,version=9p2000.L,msize=512000,cache=mmap
mkdir -p /vm
mount -t 9p -o "$p9opts" vmctl /vm || die "cannot mount the vmctl 9p share"
if [ -s /vm/mounts ]; then
	while read -r tag dir ro; do
		mkdir -p "$dir"
		# A read-only share cannot change under us: let the page cache keep
		# it (exec'ing a binary from cache=none 9p takes seconds under TCG).
		opts=$p9opts
		[ -z "$ro" ] || opts="ro,${p9opts%,cache=*},cache=loose"
		mount -t 9p -o "$opts" "$tag" "$dir" || die "cannot mount 9p share $tag on $dir"
	done </vm/mounts
fi

# Network: loopback, and eth0 on qemu's user-mode network (no route out:
# qemu runs it with restrict=on; only the apiserver guestfwd answers).
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
	sysctl -qw net.ipv6.conf.eth0.accept_ra=0
	ip link set eth0 up
	ip addr add 198.19.255.15/24 dev eth0
	ip route add default via 198.19.255.1 dev eth0
	ip -6 addr add fd00:198:19:255::15/64 dev eth0 nodad
	ip -6 route add default via fd00:198:19:255::1 dev eth0
fi

# The command: stdout/stderr on ttyS1, raw (no \n -> \r\n).
stty -F /dev/ttyS1 raw -echo 2>/dev/null
cut -d' ' -f1 /proc/uptime >/vm/boot
if grep -qx interactive /vm/options 2>/dev/null; then
	stty -F /dev/ttyS1 sane 2>/dev/null
	# util-linux setsid: a session with ttyS1 as its controlling terminal.
	setsid --ctty --wait /usr/bin/dash /vm/cmd.sh </dev/ttyS1 >/dev/ttyS1 2>&1
else
	/usr/bin/dash /vm/cmd.sh </dev/null >/dev/ttyS1 2>&1
fi
rc=$?
# The command's last close of ttyS1 waited for the UART to drain; now hand
# the status back and stop at once (no shutdown needed: nothing to keep).
echo "$rc" >/vm/rc.tmp && mv /vm/rc.tmp /vm/rc
sync
poweroff -f
