package proxier

import (
	"net/netip"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// checkInvariants asserts what every built state must hold, whatever the
// input: every real server belongs to a virtual server of its family,
// weights are 0 or 1, real servers are sorted and unique, virtual servers
// are unique by construction (a map), a persistent one has a timeout,
// every bound address has a virtual server, and only externally reachable
// Local ports fall back to the cluster's endpoints (NoLocalEndpoints). It
// also checks the safety rules of hostaddr.go against the node the state
// was built for.
func checkInvariants(t testing.TB, st *model.State, node Node) {
	t.Helper()
	bound := map[string]bool{}
	for k, svc := range st.Services {
		if svc.VSKey != k {
			t.Errorf("virtual server %s stored under key %s", svc.VSKey, k)
		}
		if !ValidScheduler(svc.Scheduler) {
			t.Errorf("%s: invalid scheduler %q", k, svc.Scheduler)
		}
		if svc.Persistent() != (svc.Timeout > 0) {
			t.Errorf("%s: persistence flag and timeout %d disagree", k, svc.Timeout)
		}
		for i, r := range svc.Reals {
			if r.Weight != 0 && r.Weight != 1 {
				t.Errorf("%s: real server %s has weight %d", k, r.RSKey, r.Weight)
			}
			if r.Addr.Is4() != k.Addr.Is4() {
				t.Errorf("%s: real server %s of the other family", k, r.RSKey)
			}
			if !r.Addr.IsValid() || r.Port == 0 {
				t.Errorf("%s: invalid real server %s", k, r.RSKey)
			}
			if i > 0 && !svc.Reals[i-1].RSKey.Less(r.RSKey) {
				t.Errorf("%s: real servers not sorted and unique at %s", k, r.RSKey)
			}
		}
		bound[k.Addr.String()] = true
	}
	for a := range st.Addresses {
		if !bound[a.String()] {
			t.Errorf("address %s bound without a virtual server", a)
		}
	}
	for _, p := range st.Netfilter.Ports {
		if p.NoLocalEndpoints && (!p.Local || p.Kind == model.KindClusterIP) {
			t.Errorf("port %s: no-local-endpoints on a port that is not an external Local port", p)
		}
	}
	checkHostInvariants(t, st, node)
}

// checkHostInvariants asserts the rules of hostaddr.go: a host address is
// never bound, never a service IP (rejected on other ports) and every
// service port on it is marked Host, so it is never firewalled; no address
// of a special kind is bound, a virtual server or a real server.
func checkHostInvariants(t testing.TB, st *model.State, node Node) {
	t.Helper()
	hosts := map[netip.Addr]bool{}
	for _, list := range [][]netip.Addr{node.IPs, node.HostIPs, node.NodePortIPs} {
		for _, a := range list {
			hosts[a] = true
		}
	}
	for a := range st.Addresses {
		if hosts[a] {
			t.Errorf("host address %s is bound on the dummy interface", a)
		}
		if !usable(a) {
			t.Errorf("bound address %s is not a usable unicast address", a)
		}
	}
	for _, a := range st.Netfilter.ServiceIPs() {
		if hosts[a] {
			t.Errorf("host address %s is a service IP (its other ports are rejected)", a)
		}
	}
	for _, p := range st.Netfilter.Ports {
		if p.Kind != model.KindNodePort && hosts[p.Addr] != p.Host {
			t.Errorf("port %s %s: Host is %t, but the address is a host address: %t", p.Kind, p.VSKey, p.Host, hosts[p.Addr])
		}
		if p.Kind == model.KindNodePort && p.Host {
			t.Errorf("node port %s marked Host", p.VSKey)
		}
	}
	for k, svc := range st.Services {
		if !usable(k.Addr) {
			t.Errorf("virtual server %s on an address that is not usable unicast", k)
		}
		for _, r := range svc.Reals {
			if !usable(r.Addr) {
				t.Errorf("%s: real server %s is not a usable unicast address", k, r.RSKey)
			}
		}
	}
}

// usable reports a unicast address that can be a service address or a
// real server: written out here rather than calling unusableReason, so the
// test does not trust the code it checks.
func usable(a netip.Addr) bool {
	return a.IsValid() && a == a.Unmap() && a.Zone() == "" && !a.IsUnspecified() && !a.IsLoopback() &&
		!a.IsMulticast() && !a.IsLinkLocalUnicast() && a != netip.MustParseAddr("255.255.255.255")
}
