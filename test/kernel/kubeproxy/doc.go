// Package kubeproxy holds the real-kernel tests of the kube-proxy leftovers
// cleanup (proxier/kubeproxy). The package itself is empty; the tests are
// behind build tags.
//
// Tag vmtest (run inside the VM as root): each test lays out, in a network
// namespace of its own, what kube-proxy's IPVS mode leaves behind (its
// iptables chains and jumps, loaded with iptables-nft-restore or
// iptables-legacy-restore, and its ipsets, with ipset restore) beside what
// kubelet, a CNI plugin and kube-router keep there, runs the cleanup over
// netlink, and compares iptables-save and `ipset list -n` with the same
// namespace laid out without kube-proxy. For iptables-legacy, nothing may
// change but unused sets, and the reported commands must finish the job.
// The tests run the iptables and ipset executables to build and read the
// state; the cleanup itself runs none.
//
//	test/vm/gotest.sh ./test/kernel/kubeproxy -v
//
// Tag realkubeproxy (run on the host; needs `make k8s-bins` and the VM):
// starts a kube-apiserver, runs the real kube-proxy v1.37.2 in IPVS mode in
// the VM until it has programmed a NodePort and a LoadBalancer service with
// source ranges, stops it, runs `ipvs-proxy --cleanup --cleanup-kube-proxy`
// and requires that no KUBE-* chain or set, no virtual server and no
// kube-ipvs0 is left (about 60 s).
//
//	go test -tags realkubeproxy -count=1 -v ./test/kernel/kubeproxy
//
// With the same tag, TestRealKubeProxyConntrack starts the real kube-proxy
// and ipvs-proxy one after the other in a 6-CPU VM with kubeadm's
// config.conf (conntrack fields null), each from the kernel's conntrack
// values, and requires the same nf_conntrack_max, hash size and timeouts,
// also from ipvs-proxy with manifests/base/config.conf; then, with
// /proc/sys and /sys read-only, kube-proxy exits with its error and
// ipvs-proxy reports it and is healthy (about 100 s). Measured: the kernel's
// 7680 entries and hash size 7680 became 196608 and 49152, established
// 432000 s became 86400, close-wait 60 s became 3600, for both.
//
// Measured in the VM (TCG, 2 vCPUs, Debian's 6.1 kernel): the cleanup of
// the synthetic dual-stack layout (18 jumps, 22 chains, 34 sets) takes
// 0.2-0.7 s; of real kube-proxy's state 0.14-0.16 s; with sets a legacy
// rule still uses after an nf_tables change, about 1.7 s (the set retries).
package kubeproxy
