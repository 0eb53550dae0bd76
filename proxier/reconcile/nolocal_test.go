package reconcile

import (
	"strings"
	"testing"

	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
)

// TestLocalEndpointsFlipTheNetfilterIntent: an endpoint change usually
// leaves the netfilter program alone (sameNetfilter), but when an
// externalTrafficPolicy Local service loses or regains its last endpoint on
// this node, its external ports change their NoLocalEndpoints flag (new
// connections from outside are dropped while they are served by other
// nodes' endpoints), and the netfilter program must follow.
func TestLocalEndpointsFlipTheNetfilterIntent(t *testing.T) {
	r := newRig(t)
	svc := k8stest.Service("ns", "web", k8stest.NodePort(30080), k8stest.ExternalLocal)
	put := func(eps ...discovery.Endpoint) {
		r.t.Helper()
		name := r.src.put(svc, k8stest.Slice("ns", "web", "web-1", eps))
		if res := r.sync(name); res.Failures > 0 {
			t.Fatalf("sync had %d failures", res.Failures)
		}
	}
	const flagged = "port node-port tcp 198.18.1.1:30080 local no-local-endpoints\n"
	expect := func(step string, nfWrites int, wantFlag bool, route ...string) {
		t.Helper()
		if got := r.nfWrites(); got != nfWrites {
			t.Errorf("%s: %d netfilter transactions, want %d", step, got, nfWrites)
		}
		if got := strings.Contains(r.nf.Dump(), flagged); got != wantFlag {
			t.Errorf("%s: port flagged %t, want %t:\n%s", step, got, wantFlag, r.nf.Dump())
		}
		r.expectRoute("tcp 198.18.1.1:30080", route...)
	}
	r.full()
	local, remote, remote2 := ep("198.18.10.1", k8stest.OnNode("node-a")), ep("198.18.10.2"), ep("198.18.10.3")
	put(local, remote)
	n := r.nfWrites()
	expect("a local endpoint", n, false, "198.18.10.1:8080")

	put(remote)
	n++
	expect("the local endpoint went", n, true, "198.18.10.2:8080")

	put(remote, remote2) // endpoints only: the netfilter program is untouched
	expect("another remote endpoint", n, true, "198.18.10.2:8080", "198.18.10.3:8080")

	put(local, remote, remote2)
	n++
	expect("a local endpoint came back", n, false, "198.18.10.1:8080")

	// Terminating and no longer serving, the local endpoint is still a
	// hairpin entry (its connections drain): only the flag changes.
	put(ep("198.18.10.1", k8stest.OnNode("node-a"), k8stest.Terminating(false)), remote, remote2)
	n++
	expect("the local endpoint stopped serving", n, true, "198.18.10.2:8080", "198.18.10.3:8080")
}
