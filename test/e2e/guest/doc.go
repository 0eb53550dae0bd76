// Package guest is the inside of the end-to-end suite: the pieces a scenario
// uses while it runs as root in the test VM (test/vm), next to the real
// kernel's IPVS, nftables and conntrack.
//
//	Cluster ─► kube-apiserver on the host (through qemu's guestfwd)
//	Daemon  ─► the ipvs-proxy binary, a child process: start, SIGTERM, SIGKILL,
//	           /healthz and /metrics
//	Netns   ─► a named network namespace wired to the node (the VM's root
//	           namespace) by a veth pair: a backend "pod" or an outside client
//	Server  ─► TCP and UDP servers in a Netns that answer with their name
//	Conn    ─► clients that ask once, or hold a connection open
//	Kernel  ─► reads IPVS back over netlink (moby/ipvs), dumps ipvsadm,
//	           conntrack and nft for diagnostics
//	Host    ─► asks the host side (test/e2e/host) to stop, start or restart
//	           the API server, through files in the 9p share
//
// The address plan (plan.go) keeps every packet inside 198.18.0.0/15 and
// fd00::/8: service ranges 198.18.0.0/16 and fd00:198:18::/108, pods in
// 198.19.0.0/17 and fd00:10::/48 (the cluster CIDR), outside clients in
// 198.19.200.0/21 and fd00:20::/48, external and load-balancer addresses in
// 198.19.250.0/23 and fd00:30::/48. The node itself is eth0, 198.19.255.15
// and fd00:198:19:255::15, which test/vm gives the guest.
//
// Every function returns errors instead of taking a testing.T, so that the
// demo (test/e2e/demo) can use the same pieces; the scenarios
// (test/e2e/scenarios) turn errors into test failures.
package guest
