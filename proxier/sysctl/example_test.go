package sysctl_test

import (
	"fmt"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// A node on kernel 5.4 with IPVS loaded: the first Ensure writes what
// differs, the second finds nothing to do.
func ExampleFake() {
	f := sysctl.NewFake(map[string]string{
		"kernel.osrelease":                      "5.4.0-150-generic",
		"net.ipv4.vs.conntrack":                 "0",
		"net.ipv4.vs.expire_nodest_conn":        "0",
		"net.ipv4.vs.expire_quiescent_template": "0",
		"net.ipv4.vs.conn_reuse_mode":           "1",
		"net.ipv4.ip_forward":                   "1",
	})
	kernel, _ := sysctl.RunningKernel(f)
	bridge, _ := sysctl.BridgePresent(f)
	settings := sysctl.Required(sysctl.Options{Kernel: kernel, Bridge: bridge})

	drift, err := sysctl.Ensure(f, settings)
	fmt.Println("error:", err)
	for _, d := range drift {
		fmt.Println("drifted:", d)
	}
	f.ResetCalls()
	drift, _ = sysctl.Ensure(f, settings)
	fmt.Printf("second pass: %d drifted, %d reads, %d writes\n", len(drift), f.Reads(), f.Writes())
	fmt.Print(f.Dump())
	// Output:
	// error: <nil>
	// drifted: net.ipv4.vs.conntrack: "0" -> "1"
	// drifted: net.ipv4.vs.expire_nodest_conn: "0" -> "1"
	// drifted: net.ipv4.vs.expire_quiescent_template: "0" -> "1"
	// drifted: net.ipv4.vs.conn_reuse_mode: "1" -> "0"
	// second pass: 0 drifted, 5 reads, 0 writes
	// kernel.osrelease = 5.4.0-150-generic
	// net.ipv4.ip_forward = 1
	// net.ipv4.vs.conn_reuse_mode = 0
	// net.ipv4.vs.conntrack = 1
	// net.ipv4.vs.expire_nodest_conn = 1
	// net.ipv4.vs.expire_quiescent_template = 1
}
