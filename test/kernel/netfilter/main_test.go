//go:build vmtest

// Package netfilter_test runs the netfilter adapter (proxier/netfilter)
// against a real kernel: it applies intents, reads the tables back through
// nf_tables netlink, and sends packets between network namespaces to show
// what the rules do (reject of unused ports on service addresses, source
// range drops, masquerading of IPVS traffic). Every test works in network
// namespaces of its own, so it never touches the namespace it runs in; it
// needs root and a kernel with nf_tables (and IPVS for the masquerade
// tests). Run it in the VM harness: test/vm/gotest.sh ./test/kernel/netfilter
//
// Addresses are from 198.18.0.0/15 and fd00::/8 only.
package netfilter_test

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "the netfilter kernel tests need root (run them in the VM: test/vm/gotest.sh ./test/kernel/netfilter)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}
