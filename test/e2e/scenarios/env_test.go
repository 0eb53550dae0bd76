//go:build e2eguest

package scenarios

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run()) // the host lists the scenarios
	}
	if os.Getenv("IPVS_VM") != "1" {
		fmt.Fprintln(os.Stderr, "scenarios: not in the test VM (IPVS_VM unset); run `make e2e`")
		os.Exit(2)
	}
	if err := guest.PrepareNode(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// Timeouts of the suite. The VM runs under TCG on a shared 2-core machine:
// allow for slowness, but the behaviours under test have their own, tighter
// bounds, asserted where they matter.
const (
	programTimeout = 20 * time.Second // a change in the API reaches the kernel
	syncTimeout    = 60 * time.Second // a started daemon completes its first sync
)

// env is one scenario's world: the API server, a namespace of its own, its
// pods and clients, and the daemon.
type env struct {
	t       *testing.T
	cluster *guest.Cluster
	ns      string
	daemons []*guest.Daemon
}

// setup connects to the API server, makes sure the Node exists and creates
// the scenario's namespace; its Services are deleted when the test ends.
func setup(t *testing.T) *env {
	t.Helper()
	c, err := guest.Connect()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, cluster: c, ns: strings.ToLower(strings.TrimPrefix(t.Name(), "Test"))}
	e.must(c.EnsureNode(t.Context()), "ensuring the node")
	e.must(c.CreateNamespace(t.Context(), e.ns), "creating the namespace")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.DeleteServices(ctx, e.ns); err != nil {
			t.Logf("Deleting the scenario's services: %v", err)
		}
	})
	t.Cleanup(e.dumpOnFailure)
	return e
}

// must fails the test at once when err is set.
func (e *env) must(err error, what string) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// dumpOnFailure logs the kernel state and the daemons' last log lines.
func (e *env) dumpOnFailure() {
	if !e.t.Failed() {
		return
	}
	e.t.Logf("Kernel state at failure:\n%s", guest.Dump())
	for i, d := range e.daemons {
		e.t.Logf("Daemon %d (%s), last lines:\n%s", i+1, d.Log, d.LogTail(40))
	}
}

// pods starts one backend per name, with indices 1, 2, 3...
func (e *env) pods(names ...string) []*guest.Pod {
	e.t.Helper()
	out := make([]*guest.Pod, len(names))
	for i, n := range names {
		p, err := guest.StartPod(n, i+1)
		e.must(err, "starting pod "+n)
		e.t.Cleanup(func() { _ = p.Close() })
		out[i] = p
	}
	return out
}

// client creates an outside client namespace with index idx (200-207).
//
// Its TIME_WAIT table is made large enough for a scenario's thousands of
// short connections: with the VM's default (4096) a fast client reuses a
// source port while IPVS still holds the old connection to that address in
// TIME_WAIT, and with conn_reuse_mode=1 IPVS drops the new SYN (a 1 s
// retransmission). That is IPVS's behaviour whoever programs it, not what
// the scenarios test.
func (e *env) client(name string, idx int) *guest.Netns {
	e.t.Helper()
	n, err := guest.NewNetns(name, idx)
	e.must(err, "creating client "+name)
	e.must(n.Sysctl("net.ipv4.tcp_max_tw_buckets", "262144"), "sizing the TIME_WAIT table of "+name)
	e.t.Cleanup(func() { _ = n.Close() })
	return n
}

// daemon starts ipvs-proxy with the suite's flags and args and waits for its
// first sync. It is stopped with SIGTERM when the test ends.
func (e *env) daemon(args ...string) *guest.Daemon {
	e.t.Helper()
	return e.daemonArgs(append(guest.DaemonArgs(), args...))
}

// daemonArgs is daemon with exactly args, for a scenario that must leave
// one of guest.DaemonArgs out.
func (e *env) daemonArgs(args []string) *guest.Daemon {
	e.t.Helper()
	name := fmt.Sprintf("%s-daemon-%d", e.ns, len(e.daemons)+1)
	d, err := guest.StartDaemonArgs(name, args)
	e.must(err, "starting the daemon")
	e.daemons = append(e.daemons, d)
	e.t.Cleanup(func() {
		if err := d.Stop(10 * time.Second); err != nil {
			e.t.Errorf("Stopping the daemon: %v", err)
		}
	})
	e.must(d.WaitSynced(syncTimeout), "waiting for the daemon's first sync")
	return d
}

// waitWeights waits until the virtual server's real servers have exactly
// these weights and returns how long it took.
func (e *env) waitWeights(vip netip.AddrPort, proto string, want map[netip.Addr]int) time.Duration {
	e.t.Helper()
	took, err := guest.WaitWeights(vip, proto, guest.WeightsOf(want), programTimeout)
	e.must(err, "waiting for the kernel")
	return took
}

// spread makes n connections from ns to addr and checks that every backend
// named in want answered exactly that many of them.
func (e *env) spread(ns *guest.Netns, addr netip.AddrPort, n int, want guest.Counts) {
	e.t.Helper()
	got, err := ns.Spread(addr, n)
	if err != nil {
		e.t.Fatalf("%d connections from %s to %s (answered so far: %v): %v", n, ns.Name, addr, got, err)
	}
	if got.String() != want.String() {
		e.t.Errorf("%d connections from %s to %s went %v, want %v", n, ns.Name, addr, got, want)
		return
	}
	e.t.Logf("%d connections from %s to %s: %v", n, ns.Name, addr, got)
}

// evenly is the spread of n connections over backends by rr.
func evenly(n int, pods ...*guest.Pod) guest.Counts {
	c := guest.Counts{}
	for _, p := range pods {
		c[p.Name] = n / len(pods)
	}
	return c
}

// weights maps the pods' addresses of one family to weight w.
func weights(v6 bool, w int, pods ...*guest.Pod) map[netip.Addr]int {
	m := map[netip.Addr]int{}
	for _, p := range pods {
		m[p.Addr(v6)] = w
	}
	return m
}

// with adds the other map's entries.
func with(m map[netip.Addr]int, more map[netip.Addr]int) map[netip.Addr]int {
	for k, v := range more {
		m[k] = v
	}
	return m
}

// holdTo opens connections from ns to addr until one reaches backend want,
// and returns that one, open; the others are closed.
func (e *env) holdTo(ns *guest.Netns, addr netip.AddrPort, want string) *guest.Conn {
	e.t.Helper()
	for i := 0; i < 20; i++ {
		c, err := ns.Dial(addr)
		e.must(err, "opening a connection to hold")
		name, err := c.Ask(guest.DialTimeout)
		e.must(err, "asking on a connection to hold")
		if name == want {
			e.t.Cleanup(func() { c.Close() })
			return c
		}
		c.Close()
	}
	e.t.Fatalf("20 connections to %s never reached %s", addr, want)
	return nil
}
