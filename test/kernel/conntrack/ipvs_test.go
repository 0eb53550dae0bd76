//go:build vmtest

package conntrack_test

import (
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
	"net/netip"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// TestIPVSFlows checks the assumption the filters rest on, with the real
// adapters end to end: a UDP flow through an IPVS virtual server (address
// bound on kube-ipvs0, net.ipv4.vs.conntrack=1) leaves a conntrack entry
// whose original destination is the service and whose reply source is the
// real server, and ForEndpoint deletes exactly it.
func TestIPVSFlows(t *testing.T) {
	n := netnstest.New(t)
	client, backend := netip.MustParseAddr("198.18.80.1"), netip.MustParseAddr("198.18.80.2")
	vip := netip.MustParseAddr("198.18.81.10")
	n.AddLoopback(t, client, backend)
	track(t, n)
	svc, rs := netip.AddrPortFrom(vip, 53), netip.AddrPortFrom(backend, 5353)

	addrs := func() *addr.Netlink {
		a, err := addr.New(addr.Config{NetNSPath: n.Path})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		return a
	}()
	if err := addrs.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	if err := addrs.Bind(vip); err != nil {
		t.Fatal(err)
	}
	var kernel *ipvs.Kernel
	n.Do(t, func() {
		// Both the IPVS socket and /proc/sys/net belong to the thread's
		// namespace.
		drift, err := sysctl.Ensure(sysctl.New(), sysctl.Required(sysctl.Options{}))
		if err != nil {
			t.Fatalf("sysctls: %v (drift %v)", err, drift)
		}
		if kernel, err = ipvs.New(); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { _ = kernel.Close() })
	if err := kernel.Probe(); err != nil {
		t.Fatal(err)
	}
	vs := model.VirtualServer{VSKey: model.VSKey{Addr: vip, Port: 53, Proto: model.UDP}, Scheduler: "rr"}
	if err := kernel.AddVirtualServer(vs); err != nil {
		t.Fatal(err)
	}
	if err := kernel.AddRealServer(vs.VSKey, model.RealServer{RSKey: model.RSKey{Addr: backend, Port: 5353}, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	echo(t, n, rs)
	c1, c2 := netip.AddrPortFrom(client, 41001), netip.AddrPortFrom(client, 41002)
	roundTrip(t, n, c1, svc)
	roundTrip(t, n, c2, svc)

	ct := adapter(t, n)
	es, err := ct.List(model.UDP)
	if err != nil {
		t.Fatal(err)
	}
	var ours []conntrack.Entry
	for _, e := range es {
		t.Logf("entry: %s", e)
		if e.Orig.Dst == svc {
			ours = append(ours, e)
		}
	}
	if len(ours) != 2 {
		t.Fatalf("%d entries to %s, want 2 (one per client port)", len(ours), svc)
	}
	for _, e := range ours {
		if e.Reply.Src != rs {
			t.Errorf("entry %s: reply source %s, want the real server %s", e, e.Reply.Src, rs)
		}
	}
	// The full-reconcile rule sees nothing stale while the endpoint serves...
	serving := map[model.VSKey][]netip.Addr{vs.VSKey: {backend}}
	if f := conntrack.StaleFilters(es, serving); len(f) != 0 {
		t.Errorf("StaleFilters with the endpoint serving = %v, want none", f)
	}
	// ...and the endpoint's removal deletes both flows.
	if deleted, err := ct.Clear(conntrack.ForEndpoint(model.UDP, vip, 53, rs)); err != nil || deleted != 2 {
		t.Errorf("Clear(endpoint) = %d, %v; want 2", deleted, err)
	}
	if err := kernel.DeleteVirtualServer(vs.VSKey); err != nil {
		t.Fatal(err)
	}
}

// TestIPVSStaleFlow follows one client flow (same source port) through an
// endpoint change under IPVS:
//   - before the service has a real server, IPVS rejects the packet (ICMP
//     port unreachable) before conntrack confirms it, so no entry is left:
//     the "traffic before endpoints" case of iptables mode does not arise;
//   - with endpoint ep1 the flow gets an entry answered by ep1;
//   - ep1 is replaced by ep2: StaleFilters finds ep1's entry, Clear deletes
//     it (unless IPVS's own expiry got there first), and the flow's next
//     packets get a fresh entry answered by ep2.
func TestIPVSStaleFlow(t *testing.T) {
	n := netnstest.New(t)
	client, ep1, ep2 := netip.MustParseAddr("198.18.82.1"), netip.MustParseAddr("198.18.82.2"), netip.MustParseAddr("198.18.82.3")
	vip := netip.MustParseAddr("198.18.83.10")
	n.AddLoopback(t, client, ep1, ep2)
	track(t, n)
	svc := netip.AddrPortFrom(vip, 53)
	a, err := addr.New(addr.Config{NetNSPath: n.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if err := a.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	if err := a.Bind(vip); err != nil {
		t.Fatal(err)
	}
	var kernel *ipvs.Kernel
	n.Do(t, func() {
		if _, err := sysctl.Ensure(sysctl.New(), sysctl.Required(sysctl.Options{})); err != nil {
			t.Fatal(err)
		}
		if kernel, err = ipvs.New(); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { _ = kernel.Close() })
	vs := model.VirtualServer{VSKey: model.VSKey{Addr: vip, Port: 53, Proto: model.UDP}, Scheduler: "rr"}
	if err := kernel.AddVirtualServer(vs); err != nil {
		t.Fatal(err)
	}
	echo(t, n, netip.AddrPortFrom(ep1, 5353))
	echo(t, n, netip.AddrPortFrom(ep2, 5353))
	ct := adapter(t, n)
	conn := dial(t, n, netip.AddrPortFrom(client, 42001), svc)
	defer conn.Close()
	replies := func() []netip.Addr {
		es, err := ct.List(model.UDP)
		if err != nil {
			t.Fatal(err)
		}
		var out []netip.Addr
		for _, e := range es {
			if e.Orig.Dst == svc {
				out = append(out, e.Reply.Src.Addr())
			}
		}
		return out
	}
	// pingUntil retries: a connected UDP socket reports the ICMP error of
	// an earlier datagram on its next call, and IPVS drops the first packet
	// of a flow whose real server was deleted (expire_nodest_conn).
	pingUntil := func(what string) error {
		var err error
		for i := range 5 {
			if err = ping(conn, time.Second); err == nil {
				t.Logf("%s: served after %d failed pings", what, i)
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return err
	}

	if err := ping(conn, 300*time.Millisecond); err == nil {
		t.Fatal("a service without real servers answered")
	}
	if r := replies(); len(r) != 0 {
		t.Errorf("entries left by a packet to a service without real servers: replies from %v", r)
	}

	rs := func(a netip.Addr) model.RealServer {
		return model.RealServer{RSKey: model.RSKey{Addr: a, Port: 5353}, Weight: 1}
	}
	if err := kernel.AddRealServer(vs.VSKey, rs(ep1)); err != nil {
		t.Fatal(err)
	}
	if err := pingUntil("ep1 added"); err != nil {
		t.Fatalf("flow not served by ep1: %v", err)
	}
	if r := replies(); len(r) != 1 || r[0] != ep1 {
		t.Fatalf("entries answered by %v, want [%s]", r, ep1)
	}

	if err := kernel.AddRealServer(vs.VSKey, rs(ep2)); err != nil {
		t.Fatal(err)
	}
	if err := kernel.DeleteRealServer(vs.VSKey, rs(ep1).RSKey); err != nil {
		t.Fatal(err)
	}
	es, err := ct.List(model.UDP)
	if err != nil {
		t.Fatal(err)
	}
	filters := conntrack.StaleFilters(es, map[model.VSKey][]netip.Addr{vs.VSKey: {ep2}})
	want := conntrack.Filter{Proto: model.UDP, OrigDst: vip, OrigDstPort: 53, ReplySrc: ep1}
	if len(filters) != 1 || filters[0] != want {
		t.Fatalf("StaleFilters = %v, want [%s]", filters, want)
	}
	// IPVS (expire_nodest_conn=1, kernel 5.9+) also flushes the deleted
	// real server's connections in the background and drops their conntrack
	// entries, so the entry may already be gone: 0 or 1 deletions are both
	// right, what matters is that none is left.
	deleted, err := ct.Clear(filters...)
	if err != nil || deleted > 1 {
		t.Fatalf("Clear = %d, %v; want at most 1", deleted, err)
	}
	t.Logf("Clear deleted %d of the 1 stale entry (IPVS expiry removes it otherwise)", deleted)
	for _, r := range replies() {
		if r == ep1 {
			t.Fatalf("an entry answered by the removed %s is left", ep1)
		}
	}
	if err := pingUntil("ep1 replaced by ep2, stale entry cleared"); err != nil {
		t.Fatalf("flow not served by ep2 after cleanup: %v", err)
	}
	if r := replies(); len(r) != 1 || r[0] != ep2 {
		t.Errorf("entries answered by %v, want [%s]", r, ep2)
	}
	if err := kernel.DeleteVirtualServer(vs.VSKey); err != nil {
		t.Fatal(err)
	}
}
