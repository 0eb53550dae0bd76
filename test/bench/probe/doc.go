// Package probe is what the side-by-side benchmark (test/bench) reads in the
// guest, independently of the daemon under test:
//
//	IPVS      ─► /proc/net/ip_vs counted in one read (is the whole table
//	             there?), one virtual server's real servers over netlink
//	             (has this endpoint appeared or gone?)
//	nftables  ─► kube-proxy's table: its service-ips map (is every service
//	             there?) and one service chain's numgen modulus (how many
//	             endpoints does it balance over?)
//	processes ─► /proc/PID/stat and status: CPU time and peak RSS
//	logs      ─► the time of klog lines (informers synced)
//	drift     ─► Operator (drift.go): deletes one of ipvs-proxy's objects by
//	             hand (a service-ports element, the whole IPVS table, one
//	             real or virtual server) and reads whether it is back; a
//	             bound address is deleted with guest.Unbind
//
// Everything but Operator only reads the kernel.
package probe
