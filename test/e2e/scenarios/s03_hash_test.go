//go:build e2eguest

package scenarios

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// Test03SourceHash: services annotated ipvs-proxy.io/scheduler sh and mh
// get that scheduler with its fallback flag. Each client sticks to one
// backend; a connection is held to it; when that backend turns terminating
// (weight 0), the client's new connections move to another backend without
// a single error, and the held connection keeps working.
func Test03SourceHash(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	cl := e.client("client", 200)
	for _, sched := range []string{"sh", "mh"} {
		svc := e.service("web-"+sched, annotate("ipvs-proxy.io/scheduler", sched))
		e.slices(svc, readyPods(pods...)...)
		if len(e.daemons) == 0 {
			e.daemon()
		}
		for _, v6 := range []bool{false, true} {
			what := sched + " " + family(v6)
			vip := e.clusterIP(svc, v6)
			e.waitWeights(vip, "tcp", weights(v6, 1, pods...))
			vs, _, err := guest.Service(vip, "tcp")
			e.must(err, "reading the virtual server")
			if vs.Scheduler != sched || vs.Flags&ipvsSched1 == 0 {
				t.Errorf("%s: virtual server %s has scheduler %q flags %#x, want %s with its fallback flag (%#x)",
					what, vip, vs.Scheduler, vs.Flags, sched, ipvsSched1)
			}
			first := e.stickyBackend(cl, vip, pods, what)
			held := e.holdTo(cl, vip, first.Name)

			var eps []endpoint
			for _, p := range pods {
				if p == first {
					eps = append(eps, terminating(p))
				} else {
					eps = append(eps, ready(p))
				}
			}
			e.slices(svc, eps...)
			e.waitWeights(vip, "tcp", with(weights(v6, 1, pods...), weights(v6, 0, first)))
			second := e.stickyBackend(cl, vip, pods, what+" after "+first.Name+" drained")
			if second == first {
				t.Errorf("%s: the client stayed on %s after it went to weight 0", what, first.Name)
			}
			if name, err := held.Ask(5 * time.Second); err != nil || name != first.Name {
				t.Errorf("%s: the connection held to draining %s answered %q, %v", what, first.Name, name, err)
			}
			e.slices(svc, readyPods(pods...)...)
		}
	}
}

// stickyBackend makes 15 connections from ns to vip, checks that they all
// reached one backend and returns it.
func (e *env) stickyBackend(ns *guest.Netns, addr netip.AddrPort, pods []*guest.Pod, what string) *guest.Pod {
	e.t.Helper()
	got, err := ns.Spread(addr, 15)
	e.must(err, what+": connecting")
	if len(got) != 1 {
		e.t.Fatalf("%s: 15 connections from %s went %v, want all to one backend", what, ns.Name, got)
	}
	e.t.Logf("%s: 15 connections from %s went %v", what, ns.Name, got)
	for name := range got {
		for _, p := range pods {
			if p.Name == name {
				return p
			}
		}
	}
	e.t.Fatalf("%s: unknown backend in %v", what, got)
	return nil
}
