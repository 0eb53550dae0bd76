// Package sidebyside runs the real kube-proxy v1.37.2 (IPVS mode) and
// ipvs-proxy together in the test VM, to check two procedures of
// docs/migrating-from-kube-proxy.md against the real thing:
//
//   - the canary by Service: kube-proxy with the canary block in
//     --ipvs-exclude-cidrs, ipvs-proxy with --service-proxy-name, its own
//     dummy interface and the node subnets excluded; over many full syncs of
//     both, neither removes the other's virtual servers;
//   - the removal of kube-proxy's iptables chains and ipsets by hand on a
//     node in service: the guide's own shell block, run after kube-proxy
//     stopped, leaves none of them and keeps the IPVS table;
//   - the handover: kube-proxy writes them again and stops, ipvs-proxy takes
//     the node over, and `ipvs-proxy --cleanup-kube-proxy`, run while it
//     does, removes them all and nothing else (the IPVS table, kube-ipvs0
//     and ipvs-proxy's nftables tables stay, also over its next full sync).
//
// The test runs on the host (build tag realkubeproxy): it starts a
// kube-apiserver (test/apiserver), creates the objects, and boots the VM
// (test/vm/run.sh) with the API server forwarded:
//
//	go test -tags realkubeproxy -count=1 -v ./test/manifests/sidebyside
package sidebyside
