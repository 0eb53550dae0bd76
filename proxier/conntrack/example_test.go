package conntrack_test

import (
	"fmt"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// The DNS service 10.96.0.10:53/UDP lost endpoint 10.244.1.5: its flows are
// deleted, the others stay.
func ExampleFake() {
	entry := func(clientPort uint16, backend string) conntrack.Entry {
		client := netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), clientPort)
		return conntrack.Entry{
			Proto: model.UDP,
			Orig:  conntrack.Tuple{Src: client, Dst: netip.MustParseAddrPort("10.96.0.10:53")},
			Reply: conntrack.Tuple{Src: netip.MustParseAddrPort(backend), Dst: client},
		}
	}
	f := conntrack.NewFake(entry(40000, "10.244.1.5:53"), entry(40001, "10.244.2.7:53"))

	n, err := f.Clear(conntrack.ForEndpoint(model.UDP, netip.MustParseAddr("10.96.0.10"), 53,
		netip.MustParseAddrPort("10.244.1.5:53")))
	fmt.Println(n, err)
	fmt.Print(f.Dump())
	fmt.Println("reads:", f.Reads(), "writes:", f.Writes())
	// Output:
	// 1 <nil>
	// udp 198.18.0.1:40001->10.96.0.10:53 reply 10.244.2.7:53->198.18.0.1:40001
	// reads: 0 writes: 1
}
