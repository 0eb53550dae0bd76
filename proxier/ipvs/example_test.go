package ipvs_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// The Fake stands in for the kernel in tests of the reconcile engine: write
// through Interface, then check the table with Dump and the cost with the
// call counters.
func ExampleFake() {
	f := ipvs.NewFake()
	var kernel ipvs.Interface = f

	vs := model.VirtualServer{
		VSKey:     model.VSKey{Addr: netip.MustParseAddr("198.18.0.10"), Port: 80, Proto: model.TCP},
		Scheduler: "rr",
	}
	rs := model.RealServer{RSKey: model.RSKey{Addr: netip.MustParseAddr("198.18.1.1"), Port: 8080}, Weight: 1}
	_ = kernel.AddVirtualServer(vs)
	_ = kernel.AddRealServer(vs.VSKey, rs)

	// Adding it again fails with ErrExists; deleting something missing is not an error.
	err := kernel.AddRealServer(vs.VSKey, rs)
	fmt.Println(errors.Is(err, ipvs.ErrExists), err)
	fmt.Println(kernel.DeleteRealServer(vs.VSKey, model.RSKey{Addr: netip.MustParseAddr("198.18.1.2"), Port: 8080}))

	// Drain: weight 0, then watch the connection counters.
	rs.Weight = 0
	_ = kernel.UpdateRealServer(vs.VSKey, rs)
	_ = f.SetStats(vs.VSKey, rs.RSKey, model.RealServerStats{ActiveConns: 2})
	stats, _ := kernel.RealServerStats(vs.VSKey)
	fmt.Println(stats[rs.RSKey].ActiveConns)

	fmt.Print(f.Dump())
	fmt.Println("writes:", f.Writes())
	// Output:
	// true adding real server 198.18.1.1:8080 of tcp 198.18.0.10:80: already exists
	// <nil>
	// 2
	// -A -t 198.18.0.10:80 -s rr
	// -a -t 198.18.0.10:80 -r 198.18.1.1:8080 -m -w 0
	// writes: 5
}
