package reconcile

import (
	"errors"
	"fmt"
	"testing"

	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

var errKernel = errors.New("injected: no buffer space available")

// A failed call never aborts the sync: other services are still written,
// the failure is retried with backoff, and the proxy stays healthy (one
// object's trouble is never the node's).
func TestRetryAfterInjectedFailuresConverges(t *testing.T) {
	r := newRig(t)
	r.full()
	r.ipvs.Fail(ipvs.CallAddRealServer, fault.Rule{Subject: webVS, Err: errKernel})
	web := r.web(ep("198.18.10.1"), ep("198.18.10.2"))
	api := r.src.put(k8stest.Service("ns", "api", k8stest.ClusterIPs("198.18.0.11")),
		k8stest.Slice("ns", "api", "api-1", []discovery.Endpoint{ep("198.18.10.3")}))
	res := r.sync(web, api)
	if res.Failures != 2 || res.RetryAfter <= 0 || !r.eng.Healthy() || r.eng.Statuses() != 2 {
		t.Fatalf("result %+v healthy %v statuses %d: want 2 failures pending a retry, healthy", res, r.eng.Healthy(), r.eng.Statuses())
	}
	r.expectRoute("tcp 198.18.0.11:80", "198.18.10.3:8080")
	// Still failing: the retry backs off further.
	r.advance(res.RetryAfter)
	res2 := r.sync()
	if res2.Failures == 0 || res2.RetryAfter <= res.RetryAfter {
		t.Errorf("second attempt %+v: want failures and a longer backoff than %v", res2, res.RetryAfter)
	}
	r.ipvs.ClearFaults()
	// Not due yet: nothing is retried.
	if res3 := r.sync(); res3.Writes != 0 {
		t.Errorf("retried before the backoff passed: %+v", res3)
	}
	r.advance(res2.RetryAfter)
	res4 := r.sync()
	if res4.Failures != 0 || res4.RetryAfter != 0 || !r.eng.Healthy() || r.eng.Statuses() != 0 {
		t.Errorf("result %+v healthy %v statuses %d: want convergence", res4, r.eng.Healthy(), r.eng.Statuses())
	}
	r.expectRoute(webVS, "198.18.10.1:8080", "198.18.10.2:8080")
}

func TestRetryFailedVirtualServerConvergesWithItsRealServers(t *testing.T) {
	r := newRig(t)
	r.full()
	r.ipvs.Fail(ipvs.CallAddVirtualServer, fault.Rule{Subject: webVS, Err: errKernel})
	res := r.sync(r.web(ep("198.18.10.1")))
	// The virtual server fails; its real server is not sent (nothing is
	// added to a virtual server that is not there) and has no status of its
	// own: the virtual server's retry plans it again.
	if res.Failures != 1 || r.eng.Statuses() != 1 {
		t.Fatalf("result %+v, %d statuses: want the virtual server pending alone", res, r.eng.Statuses())
	}
	r.expectKernel()
	r.ipvs.ClearFaults()
	r.advance(res.RetryAfter)
	if res := r.sync(); res.Failures != 0 || r.eng.Statuses() != 0 {
		t.Fatalf("retry failed: %+v, %d statuses left", res, r.eng.Statuses())
	}
	r.expectRoute(webVS, "198.18.10.1:8080")
}

func TestRetryNetfilterFailure(t *testing.T) {
	r := newRig(t)
	r.full()
	r.nf.Fail(netfilter.CallUpdate, fault.Rule{Err: errKernel, Times: 1})
	res := r.sync(r.web(ep("198.18.10.1")))
	// The netfilter program serves every service: its failure is the
	// proxy's, as kube-proxy's failed iptables-restore is.
	if res.Failures != 1 || r.eng.Healthy() {
		t.Fatalf("result %+v: want the netfilter failure counted, unhealthy", res)
	}
	r.advance(res.RetryAfter)
	applies := r.nf.Calls(netfilter.CallApply)
	r.sync()
	if !r.eng.Healthy() || len(r.eng.applied.Netfilter.Ports) != 1 {
		t.Errorf("netfilter not retried: healthy %v, applied %v", r.eng.Healthy(), r.eng.applied.Netfilter.Lines())
	}
	// After a failure the kernel's program is not known: the whole of it.
	if r.nf.Calls(netfilter.CallApply) != applies+1 {
		t.Errorf("the retry did not apply the whole program")
	}
}

func TestRetryFailedKernelReadWritesNothing(t *testing.T) {
	r := newRig(t)
	r.web(ep("198.18.10.1"))
	r.ipvs.Fail(ipvs.CallListServices, fault.Rule{Err: errKernel})
	res := r.eng.Full(r.ctx, nil, false)
	if res.Writes != 0 || res.RetryAfter <= 0 || r.eng.Healthy() {
		t.Fatalf("result %+v: a failed read must write nothing and retry", res)
	}
	r.ipvs.ClearFaults()
	r.full()
	r.expectRoute(webVS, "198.18.10.1:8080")
}

// "Already exists" and "not found" are idempotent: state someone else
// changed under us is still converged.
func TestIdempotentErrors(t *testing.T) {
	r := newRig(t)
	r.full()
	// The virtual server appears behind our back before we add it.
	must(t, r.ipvs.AddVirtualServer(model.VirtualServer{VSKey: key(t, webVS), Scheduler: "wlc"}))
	res := r.sync(r.web(ep("198.18.10.1")))
	if res.Failures != 0 {
		t.Fatalf("exists treated as failure: %+v", res)
	}
	r.expectKernel("-A -t 198.18.0.10:80 -s rr", "-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1")
	// It vanishes before we update it.
	must(t, r.ipvs.DeleteVirtualServer(key(t, webVS)))
	res = r.sync(r.src.put(k8stest.Service("ns", "web", k8stest.Annotate("ipvs-proxy.io/scheduler", "lc")),
		k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{ep("198.18.10.1")})))
	if res.Failures != 0 {
		t.Fatalf("not-found treated as failure: %+v", res)
	}
	r.expectKernel("-A -t 198.18.0.10:80 -s lc")
	r.full() // the full reconcile restores the real server the update path could not know about
	r.expectKernel("-A -t 198.18.0.10:80 -s lc", "-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1")
}

// An address is unbound only once no unwanted virtual server of ours is
// left on it: after a restart the binding is what makes that virtual server
// ours, so unbinding the address while the virtual server's deletion failed
// would leave the virtual server to nobody, never deleted (the fault soak
// found it: TestSoakFaults).
func TestUnbindWaitsForItsVirtualServer(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			r := newRig(t)
			r.full()
			web := r.web(ep("198.18.10.1"))
			r.sync(web)
			r.ipvs.Fail(ipvs.CallDeleteVirtualServer, fault.Rule{Subject: webVS, Err: errKernel})
			r.src.remove(web)
			res := r.sync(web)
			if !contains(r.addr.Dump(), "198.18.0.10") || res.RetryAfter == 0 {
				t.Fatalf("the address was unbound (%s) or nothing is retried (%v) while its virtual server is left",
					r.addr.Dump(), res.RetryAfter)
			}
			r.ipvs.ClearFaults()
			r.advance(res.RetryAfter)
			if restart {
				r.restart()
				r.full()
			} else {
				r.sync()
			}
			r.expectKernel()
			if contains(r.addr.Dump(), "198.18.0.10") || r.eng.Statuses() != 0 {
				t.Errorf("address still bound (%s) or %d statuses once its virtual server is gone", r.addr.Dump(), r.eng.Statuses())
			}
		})
	}
}

// A real server pending a retry when its virtual server fails for good is
// forgotten with it: its operation is never sent while the virtual server
// is failed, so its retry would be due forever (a sync every MinInterval
// for nothing). The virtual server's status stands for it, as for real
// servers not sent (the fault soak found it: TestSoakFaults).
func TestFailedVirtualServerEndsItsRealServersRetries(t *testing.T) {
	r := newRig(t)
	r.full()
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2")))
	// Someone deletes the virtual server; the kernel then refuses to add
	// it back, and a real server's update meets a missing virtual server.
	must(t, r.ipvs.DeleteVirtualServer(key(t, webVS)))
	r.ipvs.Fail(ipvs.CallAddVirtualServer, fault.Rule{Subject: webVS, Err: refusal})
	res := r.sync(r.src.put(k8stest.Service("ns", "web", k8stest.Annotate("ipvs-proxy.io/scheduler", "lc")),
		k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{ep("198.18.10.1"), ep("198.18.10.2", terminating(true))})))
	if r.eng.FailedObjects()[ReasonInvalid] != 1 || r.eng.Statuses() != 2 {
		t.Fatalf("failed %v, %d statuses: want the virtual server failed as invalid, the real server pending",
			r.eng.FailedObjects(), r.eng.Statuses())
	}
	r.advance(res.RetryAfter)
	res = r.sync()
	if r.eng.Statuses() != 1 {
		t.Errorf("%d statuses: want only the failed virtual server's", r.eng.Statuses())
	}
	r.expectQuiet(res)
}

// Real servers held back by their virtual server's failed add retry on the
// virtual server's backoff: a status of their own left from an earlier
// failure is done, else its past retry time would make every sync retry
// the virtual server at once (the fault soak found it: TestSoakFaults).
func TestRealServersHeldBackFollowTheirVirtualServersBackoff(t *testing.T) {
	r := newRig(t)
	r.full()
	r.ipvs.Fail(ipvs.CallAddRealServer, fault.Rule{Subject: "198.18.10.2:8080", Err: errKernel, Times: 1})
	res := r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2")))
	if r.eng.Statuses() != 1 {
		t.Fatalf("%d statuses: want the real server pending", r.eng.Statuses())
	}
	r.advance(res.RetryAfter) // its retry is due when the virtual server vanishes
	must(t, r.ipvs.DeleteVirtualServer(key(t, webVS)))
	r.ipvs.Fail(ipvs.CallAddVirtualServer, fault.Rule{Subject: webVS, Err: errKernel})
	res = r.eng.Full(r.ctx, nil, false)
	if res.RetryAfter != retryInitial || r.eng.Statuses() != 1 {
		t.Fatalf("retry after %v, %d statuses: want the virtual server alone, retried after %v",
			res.RetryAfter, r.eng.Statuses(), retryInitial)
	}
}
