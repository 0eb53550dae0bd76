//go:build vmtest

// Package ipvs_test runs the IPVS adapter (proxier/ipvs) against a real
// kernel. It needs root and a kernel with IPVS, the schedulers and SCTP: run
// it inside the VM harness (test/vm/gotest.sh ./test/kernel/ipvs), never on a
// shared host, because every test starts by deleting all virtual servers of
// the network namespace it runs in.
//
// Addresses are from 198.18.0.0/15 and fd00::/8 only.
package ipvs_test

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// kernel is the adapter under test, shared by all tests (they do not run in
// parallel: they share the kernel's one IPVS table).
var kernel *ipvs.Kernel

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "the IPVS kernel tests need root (run them in the VM: test/vm/gotest.sh ./test/kernel/ipvs)")
		os.Exit(1)
	}
	k, err := ipvs.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kernel = k
	code := m.Run()
	_ = k.Close()
	os.Exit(code)
}

// cmpAddrs lets go-cmp compare values holding netip.Addr.
var cmpAddrs = cmp.Options{cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()}

// reset deletes every virtual server, so a test starts from an empty table,
// and again when the test ends.
func reset(t testing.TB) {
	t.Helper()
	clear := func() {
		svcs, err := kernel.ListServices()
		if err != nil {
			t.Fatalf("ListServices: %v", err)
		}
		for _, s := range svcs {
			if err := kernel.DeleteVirtualServer(s.VSKey); err != nil {
				t.Fatalf("DeleteVirtualServer(%s): %v", s.VSKey, err)
			}
		}
	}
	clear()
	t.Cleanup(func() {
		start := time.Now()
		clear()
		if d := time.Since(start); d > time.Second {
			t.Logf("Deleted the test's virtual servers one by one in %s", d)
		}
	})
}

// list returns the kernel's table as sorted services, failing the test on
// error.
func list(t testing.TB) []*model.Service {
	t.Helper()
	svcs, err := kernel.ListServices()
	if err != nil {
		t.Fatalf("ListServices: %v", err)
	}
	return svcs
}

// makeVS builds a round-robin TCP virtual server, changed by the mutators.
func makeVS(addr string, port uint16, mutators ...func(*model.VirtualServer)) model.VirtualServer {
	vs := model.VirtualServer{
		VSKey:     model.VSKey{Addr: netip.MustParseAddr(addr), Port: port, Proto: model.TCP},
		Scheduler: "rr",
	}
	for _, m := range mutators {
		m(&vs)
	}
	return vs
}

func withProto(p model.Protocol) func(*model.VirtualServer) {
	return func(vs *model.VirtualServer) { vs.Proto = p }
}

func withSched(s string, flags model.SchedFlags) func(*model.VirtualServer) {
	return func(vs *model.VirtualServer) { vs.Scheduler, vs.Flags = s, vs.Flags&model.FlagPersistent|flags }
}

func withPersistence(timeout uint32) func(*model.VirtualServer) {
	return func(vs *model.VirtualServer) {
		vs.Timeout = timeout
		if timeout == 0 {
			vs.Flags &^= model.FlagPersistent
		} else {
			vs.Flags |= model.FlagPersistent
		}
	}
}

// makeRS builds a real server of the given weight.
func makeRS(addr string, port uint16, weight int32) model.RealServer {
	return model.RealServer{RSKey: model.RSKey{Addr: netip.MustParseAddr(addr), Port: port}, Weight: weight}
}
