// Package privileges checks, on a real kernel, the privilege claims the
// DaemonSet in manifests/ rests on. It runs in the test VM (build tag
// vmtest): test/vm/gotest.sh ./test/manifests/privileges -v
//
// Each check re-executes the test binary as a helper process with exactly the
// identity and capabilities a container would have, and the helper reports
// what the kernel allowed:
//
//	test ─► helper (uid, capabilities, mount or network namespace) ─► /proc/sys, netlink
//	  ◄──────── JSON: CapEff and each operation's error ◄───────────────┘
//	test ─► helper (the pod's mounts, NET_ADMIN only) ─exec─► ipvs-proxy ─► /host/proc/sys/net
//	  ◄──── the node's sysctls, the daemon's /proc/PID/status and mountinfo, its log
//
// The claims:
//
//   - net.* sysctls in the host's network namespace: writable with
//     CAP_NET_ADMIN alone, even as a non-root user. Root without it can write
//     most of them but not net.ipv4.ip_forward. So the capability is not what
//     stops an unprivileged container: its read-only /proc/sys is.
//   - A container's read-only /proc/sys (as runc makes it from kubelet's
//     readonlyPaths) refuses the writes with EROFS; the same files reached
//     through a bind mount of the host's /proc/sys/net elsewhere (a hostPath
//     volume) accept them with CAP_NET_ADMIN alone.
//   - The daemon itself (the static binary from `make build`, or
//     $IPVS_PROXY_BIN), run with the base DaemonSet's args, its hostPath
//     mount and a read-only /proc/sys and /sys, as root with only
//     CAP_NET_ADMIN in every capability set and no_new_privs, resets every
//     sysctl of its table (strict ARP and IPv6 included) at start, and reads
//     the kernel version, although kernel.osrelease is not under
//     --sysctl-root. It also sets kube-proxy's conntrack defaults through
//     the hostPath (nf_conntrack_max for the VM's CPUs, the TCP timeouts);
//     the conntrack hash size, a module parameter under the read-only /sys,
//     keeps its value and the daemon reports it (readOnly=true).
//   - With ip_vs and nf_tables unloaded and no modprobe on PATH (the image
//     has none), a process with only CAP_NET_ADMIN gets them, and an IPVS
//     scheduler module, loaded by the kernel on first use: no CAP_SYS_MODULE
//     and no /lib/modules mount needed.
package privileges
