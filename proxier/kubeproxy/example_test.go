package kubeproxy_test

import (
	"fmt"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/kubeproxy"
)

// A node where kube-proxy's IPVS mode ran over iptables-nft, beside
// kubelet's KUBE-FIREWALL: the cleanup removes kube-proxy's jumps, chains
// and sets, and leaves kubelet's chain and its jumps.
func ExampleFake() {
	f := kubeproxy.NewFake()
	f.SeedKubeProxy(kubeproxy.NFT, kubeproxy.IPv4)
	f.AddJump(kubeproxy.NFT, kubeproxy.IPv4, "filter", "INPUT", "KUBE-FIREWALL", "")
	f.AddSet("KUBE-DST-OTHERS")

	r, err := f.CleanupLeftovers()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("removed %d rules, %d chains, %d ipsets; %d left\n",
		r.Count(kubeproxy.KindRule), r.Count(kubeproxy.KindChain), r.Count(kubeproxy.KindSet), len(r.Left))
	fmt.Print(f.Dump())
	// Output:
	// removed 9 rules, 11 chains, 17 ipsets; 0 left
	// ipset KUBE-DST-OTHERS
	// nft ip filter chain KUBE-FIREWALL
	// nft ip filter rule INPUT -j KUBE-FIREWALL
}
