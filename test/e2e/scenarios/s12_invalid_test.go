//go:build e2eguest

package scenarios

// The InvalidObjects part of scenario 12 (see Test12Safety): objects the
// kernel refuses part of never make the node unhealthy.

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// hideScheduler takes scheduler missingScheduler's module out of the
// kernel, as on a node whose kernel lacks it, and checks that the kernel
// now refuses a virtual server with it.
func (e *env) hideScheduler() {
	e.t.Helper()
	restore, err := guest.HideModule("ip_vs_" + missingScheduler)
	e.must(err, "hiding a scheduler's module")
	e.t.Cleanup(func() { _ = restore() })
	probe := netip.MustParseAddrPort("198.19.250.78:80")
	if err := guest.AddVirtualServer(probe, "tcp", missingScheduler, nil); err == nil {
		_ = guest.DeleteVirtualServer(probe, "tcp")
		e.t.Fatalf("The kernel still accepts scheduler %s after its module was hidden", missingScheduler)
	} else {
		e.t.Logf("The kernel lacks scheduler %s now: %v", missingScheduler, err)
	}
}

// invalidObjects is the InvalidObjects part (see Test12Safety).
func (e *env) invalidObjects(cl *guest.Netns, pods []*guest.Pod) {
	ord := e.service("ordinary", ipv4Only)
	e.slicesInOrder(ord, []bool{false}, readyPods(pods...)...)
	vip := e.clusterIP(ord, false)
	e.waitWeights(vip, "tcp", weights(false, 1, pods...))
	health := startWatch(time.Second, healthy)
	load := startWatch(200*time.Millisecond, func() error { _, err := cl.Ask(vip); return err })

	bad := e.badServices(pods)
	watched := 2 * healthTimeout
	time.Sleep(watched)
	e.noFailures(fmt.Sprintf("/healthz and /livez every second for %v", watched), health)
	e.noFailures(fmt.Sprintf("a request to Service ordinary (%s) every 200 ms", vip), load)
	for _, name := range bad {
		c, err := e.cluster.Client.CoreV1().Services(e.ns).Get(e.t.Context(), name, metav1.GetOptions{})
		e.must(err, "reading service "+name)
		vs, reals := e.readVS(e.clusterIP(c, false))
		e.t.Logf("Service %s in the kernel: scheduler %q, real servers %q", name, vs.Scheduler, reals)
	}
	e.objectErrors()
	for _, name := range append(bad, "ordinary") {
		e.deleteService(name)
	}
}

// badServices creates the services the kernel refuses part of, each beside
// a valid endpoint (pod b) or with valid endpoints, and returns their names.
// An EndpointSlice the API server refuses is logged: the node is safe from
// it.
func (e *env) badServices(pods []*guest.Pod) []string {
	e.t.Helper()
	endpoints := []struct{ name, addr string }{
		{"multicast", "239.1.1.1"},
		{"broadcast", "255.255.255.255"},
		{"subnet-bcast", subnetBroadcast(pods[0]).String()},
	}
	var names []string
	for _, ep := range endpoints {
		svc := e.service(ep.name, ipv4Only)
		if err := e.rawSlice(svc, ep.addr, pods[1].Addr(false).String()); err != nil {
			e.t.Logf("The API server refused endpoint %s of Service %s: %v", ep.addr, ep.name, err)
		} else {
			e.t.Logf("Service %s: endpoints %s and %s (b)", ep.name, ep.addr, pods[1].Addr(false))
		}
		names = append(names, ep.name)
	}
	for _, s := range []struct{ name, sched string }{{"sched-unknown", "nosuch"}, {"sched-missing", missingScheduler}} {
		svc := e.service(s.name, ipv4Only, annotate("ipvs-proxy.io/scheduler", s.sched))
		e.slicesInOrder(svc, []bool{false}, readyPods(pods...)...)
		e.t.Logf("Service %s: annotation ipvs-proxy.io/scheduler=%s", s.name, s.sched)
		names = append(names, s.name)
	}
	return names
}

// subnetBroadcast is the broadcast address of the pod's /24 (plan.go). The
// node holds the pod's gateway .1/24 on its veth, so the kernel has a
// broadcast route for .255 and IPVS refuses it as a real server; Build,
// which only knows the /17 cluster CIDR, cannot tell.
func subnetBroadcast(p *guest.Pod) netip.Addr {
	b := p.Addr(false).As4()
	b[3] = 255
	return netip.AddrFrom4(b)
}

// rawSlice writes service svc's IPv4 EndpointSlice with these addresses as
// ready endpoints on this node, whatever they are, and returns the API
// server's answer.
func (e *env) rawSlice(svc *v1.Service, addrs ...string) error {
	port := svc.Spec.Ports[0]
	var list []discovery.Endpoint
	for _, a := range addrs {
		list = append(list, k8stest.Endpoint(a, k8stest.OnNode(guest.NodeName)))
	}
	sl := k8stest.Slice(e.ns, svc.Name, svc.Name+"-v4", list, func(sl *discovery.EndpointSlice) {
		sl.AddressType = discovery.AddressTypeIPv4
		sl.Ports = []discovery.EndpointPort{{Name: new(port.Name), Port: new(int32(guest.BackendPort)), Protocol: new(port.Protocol)}}
	})
	return e.cluster.ApplySlice(e.t.Context(), sl)
}

// healthy asks the daemon's /healthz and /livez; anything but 200 from
// either is an error.
func healthy() error {
	var errs []error
	for _, path := range []string{"/healthz", "/livez"} {
		code, body, err := guest.Node.HTTPGet("http://" + guest.HealthzAddr + path)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		case code != 200:
			errs = append(errs, fmt.Errorf("%s answered %d: %s", path, code, strings.TrimSpace(body)))
		}
	}
	return errors.Join(errs...)
}

// objectErrors checks the daemon's ipvs_proxy_object_errors gauge: the
// kernel refused two objects for good, subnet-bcast's real server
// (reason invalid) and sched-missing's virtual server (scheduler-missing);
// 239.1.1.1, 255.255.255.255 and "nosuch" never reach the kernel (Build
// reports them), and the foreign claim is deleted by now.
func (e *env) objectErrors() {
	e.t.Helper()
	const name = "ipvs_proxy_object_errors"
	m, err := guest.ScrapeMetrics()
	e.must(err, "scraping metrics")
	got := map[string]float64{}
	var samples []string
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			samples = append(samples, fmt.Sprintf("%s %v", k, v))
			if v != 0 {
				got[k] = v
			}
		}
	}
	sort.Strings(samples)
	want := map[string]float64{name + `{reason="invalid"}`: 1, name + `{reason="scheduler-missing"}`: 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		e.t.Errorf("%s: the non-zero samples are %v, want %v; all samples:\n%s", name, got, want, strings.Join(samples, "\n"))
		return
	}
	e.t.Logf("%s:\n%s", name, strings.Join(samples, "\n"))
}

// watch runs a probe at a fixed interval in the background and keeps its
// failures, with their times.
type watch struct {
	quit, done chan struct{}
	mu         sync.Mutex
	ok         int
	failures   []string
}

// startWatch probes every interval until stop.
func startWatch(interval time.Duration, probe func() error) *watch {
	w := &watch{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			start := time.Now()
			err := probe()
			w.mu.Lock()
			if err != nil {
				w.failures = append(w.failures, fmt.Sprintf("at %s after %v: %v", start.Format("15:04:05.000"), time.Since(start).Round(time.Millisecond), err))
			} else {
				w.ok++
			}
			w.mu.Unlock()
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// noFailures stops the watch and fails the test if any probe failed.
func (e *env) noFailures(what string, w *watch) {
	e.t.Helper()
	close(w.quit)
	<-w.done
	if len(w.failures) == 0 {
		e.t.Logf("%s: %d probes, all fine", what, w.ok)
		return
	}
	shown := w.failures
	if len(shown) > 10 {
		shown = append(shown[:5:5], append([]string{"..."}, shown[len(shown)-5:]...)...)
	}
	e.t.Errorf("%s: %d of %d failed:\n%s", what, len(w.failures), w.ok+len(w.failures), strings.Join(shown, "\n"))
}
