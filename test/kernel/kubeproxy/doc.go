// Package kubeproxy holds, in tests tagged vmtest, the real-kernel tests
// of the kube-proxy leftovers cleanup (proxier/kubeproxy). Each lays out, in a
// network namespace of its own, what kube-proxy's IPVS mode leaves behind
// (its iptables chains and jumps, loaded with iptables-nft-restore or
// iptables-legacy-restore, and its ipsets, with ipset restore) beside what
// kubelet, a CNI plugin and kube-router keep there, runs the cleanup over
// netlink, and compares iptables-save and `ipset list -n` with the same
// namespace laid out without kube-proxy. The tests run the iptables and
// ipset executables to build and read the state; the cleanup itself runs
// none.
//
// It needs root and the VM harness's kernel modules:
//
//	test/vm/gotest.sh ./test/kernel/kubeproxy -v
package kubeproxy
