package addr_test

import (
	"fmt"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
)

// Adopting kube-proxy's kube-ipvs0 after a restart: the interface and one
// address are already there, so ensuring it writes nothing; the engine then
// binds the missing address and unbinds the stale one.
func ExampleFake() {
	f := addr.NewFake(addr.Config{PrimaryIPs: []netip.Addr{netip.MustParseAddr("198.18.0.2")}})
	f.SeedInterface(netip.MustParseAddr("10.96.0.1"), netip.MustParseAddr("10.96.0.99"))
	f.SetHostAddresses(netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.7.2"))

	_ = f.EnsureInterface()
	fmt.Printf("after ensure: %d reads, %d writes\n", f.Reads(), f.Writes())

	_ = f.Bind(netip.MustParseAddr("10.96.0.10"))
	_ = f.Unbind(netip.MustParseAddr("10.96.0.99"))
	bound, _ := f.List()
	fmt.Println("bound:", bound)
	nodePort, _ := f.NodeAddresses([]string{"primary"})
	fmt.Println("node ports on:", nodePort)
	fmt.Print(f.Dump())
	// Output:
	// after ensure: 1 reads, 0 writes
	// bound: [10.96.0.1 10.96.0.10]
	// node ports on: [198.18.0.2]
	// interface kube-ipvs0 dummy noarp
	// 10.96.0.1
	// 10.96.0.10
}
