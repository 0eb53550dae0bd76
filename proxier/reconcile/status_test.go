package reconcile

import (
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// refusal is what the kernel answers a destination it cannot use (a
// subnet-broadcast address: ip_vs_new_dest's RTN_UNICAST check).
var refusal = fmt.Errorf("adding real server: %w", syscall.EINVAL)

// expectQuiet asserts that the engine is healthy, waits for no retry and
// makes no write however long nothing changes.
func (r *rig) expectQuiet(res Result) {
	r.t.Helper()
	if !r.eng.Healthy() || res.RetryAfter != 0 {
		r.t.Fatalf("healthy %v, retry after %v: want healthy with nothing to retry", r.eng.Healthy(), res.RetryAfter)
	}
	for range 3 {
		r.advance(time.Minute)
		if res := r.sync(); res.Writes != 0 || res.RetryAfter != 0 {
			r.t.Fatalf("idle sync wrote %d (retry after %v): a failed object must wait for a change", res.Writes, res.RetryAfter)
		}
	}
}

func (r *rig) expectObjectError(res Result, reason string, svc string) {
	r.t.Helper()
	if len(res.ObjectErrors) != 1 || res.ObjectErrors[0].Reason != reason || res.ObjectErrors[0].Service.String() != svc {
		r.t.Fatalf("object errors %+v: want one %s error of service %s", res.ObjectErrors, reason, svc)
	}
	if got := r.eng.FailedObjects()[reason]; got != 1 {
		r.t.Fatalf("failed objects %v: want one %s", r.eng.FailedObjects(), reason)
	}
}

// A real server the kernel refuses fails alone: the others are served, the
// proxy stays healthy, and the refused one is not retried until it changes.
func TestRefusedRealServerFailsAlone(t *testing.T) {
	r := newRig(t)
	r.full()
	bad := model.RSKey{Addr: netip.MustParseAddr("198.18.10.255"), Port: 8080}
	r.ipvs.Fail(ipvs.CallAddRealServer, fault.Rule{Subject: bad.String(), Err: refusal})
	res := r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.255")))
	r.expectObjectError(res, ReasonInvalid, "ns/web")
	r.expectRoute(webVS, "198.18.10.1:8080")
	r.expectQuiet(res)
	// An endpoint change of the same service does not retry the same
	// refused operation, and the new endpoint is served.
	res = r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2"), ep("198.18.10.255")))
	if res.Failures != 0 || len(res.ObjectErrors) != 0 {
		t.Fatalf("result %+v: the refused real server was retried unchanged", res)
	}
	r.expectRoute(webVS, "198.18.10.1:8080", "198.18.10.2:8080")
	// The endpoint leaves: its failure is forgotten.
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2")))
	if r.eng.Statuses() != 0 || len(r.eng.FailedObjects()) != 0 {
		t.Errorf("statuses %d, failed %v after the refused endpoint left: want none", r.eng.Statuses(), r.eng.FailedObjects())
	}
}

// A scheduler the kernel lacks fails that virtual server with its real
// servers; other services are untouched and the node stays healthy. A
// change of the service (another scheduler) is attempted at once.
func TestMissingSchedulerFailsOnlyItsService(t *testing.T) {
	r := newRig(t)
	r.full()
	r.ipvs.Fail(ipvs.CallAddVirtualServer, fault.Rule{Subject: webVS, Err: fmt.Errorf("%w: ip_vs_nosuch", ipvs.ErrSchedulerMissing)})
	web := r.web(ep("198.18.10.1"))
	api := r.src.put(k8stest.Service("ns", "api", k8stest.ClusterIPs("198.18.0.11")),
		k8stest.Slice("ns", "api", "api-1", []discovery.Endpoint{ep("198.18.10.3")}))
	res := r.sync(web, api)
	if len(res.ObjectErrors) == 0 || res.ObjectErrors[0].Reason != ReasonSchedulerMissing {
		t.Fatalf("object errors %+v: want scheduler-missing", res.ObjectErrors)
	}
	r.expectRoute("tcp 198.18.0.11:80", "198.18.10.3:8080")
	r.expectQuiet(res)
	r.ipvs.ClearFaults()
	r.sync(r.src.put(k8stest.Service("ns", "web", k8stest.Annotate("ipvs-proxy.io/scheduler", "lc")),
		k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{ep("198.18.10.1")})))
	r.expectRoute(webVS, "198.18.10.1:8080")
	if r.eng.Statuses() != 0 {
		t.Errorf("%d statuses left after the service changed and converged", r.eng.Statuses())
	}
}

// A retry never outlives its object: a virtual server whose write failed
// and whose Service is deleted before the retry leaves no status behind.
func TestRetryEndsWhenTheServiceGoes(t *testing.T) {
	for _, call := range []ipvs.Call{ipvs.CallAddVirtualServer, ipvs.CallAddRealServer} {
		t.Run(string(call), func(t *testing.T) {
			r := newRig(t)
			r.full()
			r.ipvs.Fail(call, fault.Rule{Subject: webVS, Err: errKernel})
			web := r.web(ep("198.18.10.1"))
			if res := r.sync(web); res.Failures == 0 || r.eng.Statuses() == 0 {
				t.Fatalf("result %+v: want a pending retry", res)
			}
			r.src.remove(web)
			res := r.sync(web)
			if r.eng.Statuses() != 0 || res.RetryAfter != 0 {
				t.Fatalf("%d statuses, retry after %v once the service is gone: want none", r.eng.Statuses(), res.RetryAfter)
			}
			r.expectQuiet(res)
		})
	}
}

// A failed bind's retry ends with its address, and is not cleared by the
// success of something else.
func TestAddressRetryEndsWithItsAddress(t *testing.T) {
	r := newRig(t)
	r.full()
	r.addr.Fail(addr.CallBind, fault.Rule{Subject: "198.18.0.10", Err: errKernel})
	web := r.web(ep("198.18.10.1"))
	r.sync(web)
	if r.eng.Statuses() != 1 {
		t.Fatalf("%d statuses: want the address pending", r.eng.Statuses())
	}
	r.sync(r.src.put(k8stest.Service("ns", "api", k8stest.ClusterIPs("198.18.0.11")),
		k8stest.Slice("ns", "api", "api-1", []discovery.Endpoint{ep("198.18.10.3")})))
	if r.eng.Statuses() != 1 {
		t.Fatalf("%d statuses: another service's success cleared the failed bind", r.eng.Statuses())
	}
	r.src.remove(web)
	if res := r.sync(web); r.eng.Statuses() != 0 {
		t.Fatalf("%d statuses (result %+v): the bind's retry outlived its service", r.eng.Statuses(), res)
	}
}

// Transient errors back off and end: after maxAttempts the object fails
// with ReasonExhausted; RetryExhausted (every check period) and the
// periodic repair try it again, once each time.
func TestTransientRetriesEnd(t *testing.T) {
	r := newRig(t)
	r.full()
	r.ipvs.Fail(ipvs.CallAddRealServer, fault.Rule{Subject: webVS, Err: fmt.Errorf("injected: %w", syscall.ENOBUFS)})
	res := r.sync(r.web(ep("198.18.10.1")))
	attempts := 1
	for ; res.RetryAfter > 0 && attempts < 2*maxAttempts; attempts++ {
		r.advance(res.RetryAfter)
		res = r.sync()
	}
	if attempts != maxAttempts || r.eng.FailedObjects()[ReasonExhausted] != 1 {
		t.Fatalf("%d attempts, failed %v: want %d attempts, then exhausted", attempts, r.eng.FailedObjects(), maxAttempts)
	}
	r.expectQuiet(res)
	calls := r.ipvs.Calls(ipvs.CallAddRealServer) + r.ipvs.Calls(ipvs.CallApplyBatch)
	if res := r.eng.RetryExhausted(r.ctx); res.Failures != 1 || res.RetryAfter != 0 {
		t.Errorf("RetryExhausted with the fault still there: %+v, want one failure and no retry scheduled", res)
	}
	if got := r.ipvs.Calls(ipvs.CallAddRealServer) + r.ipvs.Calls(ipvs.CallApplyBatch) - calls; got == 0 {
		t.Error("RetryExhausted did not try the object")
	}
	if r.eng.FailedObjects()[ReasonExhausted] != 1 {
		t.Errorf("failed %v after a retry that failed again, want it still exhausted", r.eng.FailedObjects())
	}
	r.ipvs.ClearFaults()
	r.eng.RetryExhausted(r.ctx) // the kernel recovered: tried again, no read needed
	r.expectRoute(webVS, "198.18.10.1:8080")
	if r.eng.Statuses() != 0 {
		t.Errorf("%d statuses after the retry converged", r.eng.Statuses())
	}
	if res := r.eng.RetryExhausted(r.ctx); res.Writes != 0 {
		t.Errorf("RetryExhausted with nothing failed wrote %d times", res.Writes)
	}
}

// A virtual server that another program owns (keepalived on a host
// address) is never changed or deleted by a Service claiming it: that
// Service's virtual server fails as foreign.
func TestForeignVirtualServerIsNeverTakenOver(t *testing.T) {
	r := newRig(t)
	vip := netip.MustParseAddr("198.18.5.5")
	r.node.HostIPs = []netip.Addr{netip.MustParseAddr("198.18.1.1"), vip}
	r.restart()
	foreign := &model.Service{VirtualServer: model.VirtualServer{VSKey: key(t, "tcp 198.18.5.5:80"), Scheduler: "wlc"},
		Reals: []model.RealServer{{RSKey: rsKey("198.18.9.9:80"), Weight: 3}}}
	r.ipvs.Seed(foreign)
	want := r.kernel().IPVSLines()
	r.full()
	claim := r.src.put(k8stest.Service("ns", "claim", func(s *v1.Service) { s.Spec.ExternalIPs = []string{vip.String()} }),
		k8stest.Slice("ns", "claim", "claim-1", []discovery.Endpoint{ep("198.18.10.1")}))
	for _, step := range []func() Result{
		func() Result { return r.sync(claim) },
		func() Result { return r.eng.Full(r.ctx, nil, false) },
	} {
		res := step()
		if !sameService(r.kernel().Services[foreign.VSKey], foreign) {
			t.Fatalf("foreign virtual server changed: %v", r.kernel().IPVSLines())
		}
		if !r.eng.Healthy() || res.RetryAfter != 0 {
			t.Fatalf("healthy %v retry %v: a foreign virtual server must not make the proxy retry", r.eng.Healthy(), res.RetryAfter)
		}
	}
	if r.eng.FailedObjects()[ReasonForeign] != 1 {
		t.Fatalf("failed objects %v: want the claimed virtual server failed as foreign", r.eng.FailedObjects())
	}
	r.expectRoute("tcp 198.18.0.10:80", "198.18.10.1:8080") // its cluster IP is served
	r.src.remove(claim)
	r.sync(claim)
	r.full()
	if !sameService(r.kernel().Services[foreign.VSKey], foreign) {
		t.Fatalf("foreign virtual server deleted or changed with the service: %v (was %v)", r.kernel().IPVSLines(), want)
	}
	if r.eng.Statuses() != 0 {
		t.Errorf("%d statuses after the claiming service left", r.eng.Statuses())
	}
}

// An address of the host found on the dummy interface (a node address that
// an older version or kube-proxy bound there) is never unbound: doing so
// can take the node's local route with it.
func TestHostAddressOnDummyIsNeverUnbound(t *testing.T) {
	r := newRig(t)
	nodeIP := netip.MustParseAddr("198.18.1.1")
	r.node.HostIPs = []netip.Addr{nodeIP}
	r.restart()
	r.addr.SeedInterface(nodeIP)
	r.web(ep("198.18.10.1"))
	r.full()
	if got := r.addr.Dump(); !contains(got, nodeIP.String()) {
		t.Errorf("the host address was unbound from the dummy interface:\n%s", got)
	}
}

func sameService(a, b *model.Service) bool {
	return a != nil && b != nil && a.VirtualServer == b.VirtualServer && slices.Equal(a.Reals, b.Reals)
}

// hostAddressRig programs a service with external IPs that are node
// addresses (served, never bound: only the netfilter record says it is ours
// after a restart), one of them beside a foreign virtual server, with one
// Full.
func hostAddressRig(t *testing.T) (*rig, *model.Service) {
	r := newRig(t)
	r.node.HostIPs = []netip.Addr{netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.5.5")}
	r.restart()
	foreign := &model.Service{VirtualServer: model.VirtualServer{VSKey: key(t, "tcp 198.18.5.5:80"), Scheduler: "wlc"}}
	r.ipvs.Seed(foreign)
	external := func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.18.1.1", "198.18.5.5"} }
	r.src.put(k8stest.Service("ns", "web", external), k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{ep("198.18.10.1")}))
	r.eng.Full(r.ctx, nil, false)
	return r, foreign
}

// A virtual server we created on a host address (served, never bound) is
// still ours after a restart: the netfilter program records it. The
// restart adopts it without a write, while a foreign one stays foreign.
func TestHostAddressVirtualServerIsOursAfterRestart(t *testing.T) {
	r, foreign := hostAddressRig(t)
	r.expectRoute("tcp 198.18.1.1:80", "198.18.10.1:8080")
	if r.eng.FailedObjects()[ReasonForeign] != 1 {
		t.Fatalf("failed %v: want the keepalived-style virtual server foreign", r.eng.FailedObjects())
	}
	r.restart()
	r.resetCounts()
	r.eng.Full(r.ctx, nil, false)
	if w := r.ipvs.Writes(); w != 0 {
		t.Errorf("restart wrote %d IPVS operations: want the host-address virtual server adopted as is", w)
	}
	if got := r.eng.FailedObjects(); got[ReasonForeign] != 1 {
		t.Errorf("failed %v after the restart: want only the keepalived-style virtual server foreign", got)
	}
	if !sameService(r.kernel().Services[foreign.VSKey], foreign) {
		t.Errorf("foreign virtual server changed: %v", r.kernel().IPVSLines())
	}
}

// A failed kernel read is retried by reading again once its backoff has
// passed, and the proxy is healthy after: the retry is not an incremental
// sync that never reads (which would leave health false and ask for a
// retry every millisecond).
func TestFailedKernelReadIsRetriedByReading(t *testing.T) {
	r := newRig(t)
	r.full()
	web := r.web(ep("198.18.10.1"))
	r.ipvs.Fail(ipvs.CallListServices, fault.Rule{Err: errKernel, Times: 1})
	res := r.eng.Full(r.ctx, []types.NamespacedName{web}, false)
	if r.eng.Healthy() || res.RetryAfter <= 0 {
		t.Fatalf("healthy %v, retry after %v: want unhealthy with a retry", r.eng.Healthy(), res.RetryAfter)
	}
	r.advance(res.RetryAfter)
	res = r.sync()
	if !res.Full || !r.eng.Healthy() || res.RetryAfter != 0 {
		t.Fatalf("result %+v, healthy %v: want the retry to read the kernel again and converge", res, r.eng.Healthy())
	}
	r.expectRoute(webVS, "198.18.10.1:8080")
}
