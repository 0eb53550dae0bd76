//go:build vmtest

// Package addr_test runs the address adapter (proxier/addr) against a real
// kernel, each test in a fresh network namespace. It needs root and the
// dummy and veth modules: run it in the VM harness (test/vm/gotest.sh
// ./test/kernel/addr).
//
// Addresses are from 198.18.0.0/15 and fd00::/8 only.
package addr_test

import (
	"fmt"
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
	"net/netip"
	"os"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "the address kernel tests need root (run them in the VM: test/vm/gotest.sh ./test/kernel/addr)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// adapter opens the real adapter in the namespace for kube-ipvs0.
func adapter(t *testing.T, n *netnstest.NetNS, mutators ...func(*addr.Config)) *addr.Netlink {
	t.Helper()
	cfg := addr.Config{NetNSPath: n.Path}
	for _, m := range mutators {
		m(&cfg)
	}
	a, err := addr.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// ensured returns an adapter whose interface exists.
func ensured(t *testing.T, n *netnstest.NetNS) *addr.Netlink {
	t.Helper()
	a := adapter(t, n)
	if err := a.EnsureInterface(); err != nil {
		t.Fatalf("EnsureInterface: %v", err)
	}
	return a
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// list returns the adapter's List, failing the test on error.
func list(t *testing.T, a addr.Interface) []netip.Addr {
	t.Helper()
	got, err := a.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

func equal(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
