// Package sysctl reads and writes the kernel parameters under /proc/sys that
// IPVS service proxying depends on, and holds the policy deciding which
// values are required as a data table.
//
// Data flow:
//
//	Options (kernel version, IPv6, strict ARP, bridge present)
//	   │
//	   ▼
//	Required(opts) ─► []Setting ─► Ensure(iface, settings) ─► []Drift (for metrics and logs)
//	                                    │
//	                                    ▼
//	                            Interface.Get / Set ─► /proc/sys (Proc) or memory (Fake)
//
// Required is pure: it evaluates each row of the table against the options.
// Ensure reads every setting, writes only those that differ and reports them;
// a full reconcile calls it again to detect and repair drift. A no-op Ensure
// performs reads only, which the Fake's counters prove.
//
// Proc reads and writes files under its Root, /proc/sys by default. A
// container whose own /proc/sys is read-only points Root at a writable bind
// of the host's /proc/sys/net (mounted at Root/net): every parameter written
// is a net.* one, and the only other one read, kernel.osrelease, comes from
// uname(2).
//
// kube-proxy's conntrack settings (conntrack.go) are decided the same way,
// once at start: ReadConntrack reads nf_conntrack_max and the hash size,
// the pure ConntrackSettings decides from them, the configuration and the
// node's CPU count (OnlineCPUs) what to raise or write, following
// kube-proxy's pkg/proxy/conntrack/sysctls.go, and Ensure writes it. The
// hash size is a module parameter, not a sysctl: Proc reads and writes
// names starting with ModulePrefix under /sys/module (ModuleRoot).
//
// Only this package touches /proc/sys and /sys; nothing here executes the
// sysctl command.
package sysctl
