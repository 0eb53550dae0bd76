//go:build e2eguest

package scenarios

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// The world of scenario 12.
const (
	// safetySyncPeriod is the daemon's --ipvs-sync-period here; its health
	// timeout is twice that (healthcheck.TimeoutForSyncPeriod).
	safetySyncPeriod = 5 * time.Second
	healthTimeout    = 2 * safetySyncPeriod

	hostPort         = 2222            // a host daemon's port on the node's address ("SSH")
	hostServicePort  = 8080            // the port a Service claims on the node's address
	foreignLink      = "keepalived0"   // the foreign virtual server's interface
	foreignAddr      = "198.19.250.77" // its address, an external IP of the suite's range
	missingScheduler = "dh"            // its module is taken out of the VM's kernel
)

// Test12Safety: no Service or EndpointSlice can hurt the node, and the
// proxy leaves what others hold in the kernel alone. One VM boot, three
// parts, against a daemon with a 5 s sync period (so a 10 s health
// timeout):
//
//   - ForeignVirtualServer: a keepalived-style virtual server, made by hand
//     before the daemon starts on an address of its own dummy interface,
//     keeps its scheduler (wlc) and its one real server while a Service's
//     external IP claims the same address, port and protocol (for 2.5 sync
//     periods) and after the Service is deleted; clients keep reaching its
//     real server.
//   - InvalidObjects: endpoints the kernel refuses as real servers
//     (239.1.1.1, 255.255.255.255, and a pod subnet's broadcast address,
//     which only the kernel knows), an unknown scheduler and a known one
//     whose module the kernel lacks never turn /healthz or /livez from 200
//     over twice the health timeout, and an ordinary Service answers a
//     request every 200 ms throughout without a failure; the daemon's
//     ipvs_proxy_object_errors counts the two objects the kernel refused.
//   - HostAddress: a Service whose external IP is the node's own address
//     gets its own port there, balanced to its backends; a host listener on
//     another port of that address keeps answering; the address is neither
//     bound on kube-ipvs0 nor in the reject set service-ips; a Warning event
//     or the daemon's log names it; and deleting the Service leaves the
//     address on eth0, reachable.
//
// HostAddress runs last: it is the part that could cut the node off (a
// proxy that binds the node's address on its dummy interface unbinds it
// when the Service goes), and the parts after it would then fail for that
// reason, not their own. On Debian's 6.1 kernel, unbinding it from
// kube-ipvs0 left eth0's local route alone.
func Test12Safety(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	cl := e.client("client", 200)
	e.hostListener(cl)
	foreign := e.foreignVirtualServer(cl, pods[2])
	e.daemon("--ipvs-sync-period=" + safetySyncPeriod.String())
	// After the start: the daemon lists the kernel's schedulers then, and
	// an annotation naming one missing at start gets the default scheduler
	// before reaching the kernel. A module gone later reaches the kernel,
	// which refuses it.
	e.hideScheduler()

	t.Run("ForeignVirtualServer", func(t *testing.T) { e.sub(t).foreignSurvives(cl, foreign, pods[:2]) })
	t.Run("InvalidObjects", func(t *testing.T) { e.sub(t).invalidObjects(cl, pods[:2]) })
	t.Run("HostAddress", func(t *testing.T) { e.sub(t).hostAddress(cl, pods[:2]) })
}

// sub is the env for a subtest: the same world, failures reported to t.
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// ipv4Only makes the service single-stack IPv4.
func ipv4Only(s *v1.Service) {
	s.Spec.IPFamilyPolicy = new(v1.IPFamilyPolicySingleStack)
	s.Spec.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
}

// port sets the service port's number (the target port stays BackendPort).
func port(p int32) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.Ports[0].Port = p }
}

// hostListener starts a plain TCP server on the node (root namespace, every
// address) at hostPort, as sshd would listen, and checks that the client
// reaches it on the node's address before any Service exists.
func (e *env) hostListener(cl *guest.Netns) {
	e.t.Helper()
	srv, err := guest.Serve(guest.Node, "host", hostPort)
	e.must(err, "starting the host listener")
	e.t.Cleanup(func() { _ = srv.Close() })
	e.reaches(cl, hostAddrPort(hostPort), 3, guest.Counts{"host": 3}, "before any Service")
}

// hostAddrPort is the node's IPv4 address with port p.
func hostAddrPort(p uint16) netip.AddrPort {
	v4, _ := guest.NodeIPs()
	return netip.AddrPortFrom(v4, p)
}

// reaches makes n connections from ns to addr and checks that they went as
// want says. Unlike spread, a failure does not end the test, so that the
// kernel's state is still read and reported after it.
func (e *env) reaches(ns *guest.Netns, addr netip.AddrPort, n int, want guest.Counts, when string) {
	e.t.Helper()
	got, err := ns.Spread(addr, n)
	switch {
	case err != nil:
		e.t.Errorf("%s: %d connections from %s to %s (answered so far: %v): %v", when, n, ns.Name, addr, got, err)
	case got.String() != want.String():
		e.t.Errorf("%s: %d connections from %s to %s went %v, want %v", when, n, ns.Name, addr, got, want)
	default:
		e.t.Logf("%s: %d connections from %s to %s: %v", when, n, ns.Name, addr, got)
	}
}

// deleteService deletes the service and its EndpointSlices.
func (e *env) deleteService(name string) {
	e.t.Helper()
	ctx, c := e.t.Context(), e.cluster.Client
	e.must(c.CoreV1().Services(e.ns).Delete(ctx, name, metav1.DeleteOptions{}), "deleting service "+name)
	sel := metav1.ListOptions{LabelSelector: discovery.LabelServiceName + "=" + name}
	e.must(c.DiscoveryV1().EndpointSlices(e.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel), "deleting the slices of "+name)
}

// waitAbsent waits until the kernel has no virtual server vip.
func (e *env) waitAbsent(vip netip.AddrPort) {
	e.t.Helper()
	_, err := guest.WaitWeights(vip, "tcp", "absent", programTimeout)
	e.must(err, "waiting for the virtual server to go")
}

// hostAddress is the HostAddress part (see Test12Safety).
func (e *env) hostAddress(cl *guest.Netns, pods []*guest.Pod) {
	nodeIP := hostAddrPort(0).Addr()
	svc := e.service("host-claim", ipv4Only, externalIPs(nodeIP.String()), port(hostServicePort))
	e.slicesInOrder(svc, []bool{false}, readyPods(pods...)...)
	vip := hostAddrPort(hostServicePort)
	took := e.waitWeights(vip, "tcp", weights(false, 1, pods...))
	e.t.Logf("Service host-claim: IPVS tcp %s has its 2 real servers (waited %v)", vip, took)

	e.reaches(cl, hostAddrPort(hostPort), 5, guest.Counts{"host": 5}, "the node's own port while host-claim exists")
	e.reaches(cl, vip, 10, evenly(10, pods...), "the Service's port on the node's address")
	e.notClaimed(nodeIP)
	e.named(nodeIP, "host-claim")

	e.deleteService("host-claim")
	e.waitAbsent(vip)
	if addrs, err := guest.LinkAddrs("eth0"); err != nil || !slices.Contains(addrs, nodeIP) {
		e.t.Errorf("After deleting host-claim: eth0 has %v (%v), want %s among them", addrs, err, nodeIP)
	}
	e.reaches(cl, hostAddrPort(hostPort), 5, guest.Counts{"host": 5}, "the node's own port after host-claim was deleted")
}

// notClaimed checks that the node's address is neither bound on the dummy
// interface nor in the netfilter program's service-ips set, whose addresses
// get every port no service uses rejected.
func (e *env) notClaimed(a netip.Addr) {
	e.t.Helper()
	bound, err := guest.BoundAddrs()
	e.must(err, "reading what is bound on kube-ipvs0")
	if slices.Contains(bound, a) {
		e.t.Errorf("The node's address %s is bound on kube-ipvs0 (bound: %v)", a, bound)
	} else {
		e.t.Logf("kube-ipvs0 does not hold %s, as an address or a local route (it holds %v)", a, bound)
	}
	ips, err := guest.NftSet("ip", "ipvs-proxy", "service-ips")
	e.must(err, "reading nftables set service-ips")
	if slices.Contains(ips, a.String()) {
		e.t.Errorf("The node's address %s is in set service-ips of table ip ipvs-proxy: %v", a, ips)
	} else {
		e.t.Logf("Set service-ips of table ip ipvs-proxy does not hold %s (it holds %v)", a, ips)
	}
}

// named waits for a Warning event on service svc, or a line of the
// daemon's log about it, that names address a.
func (e *env) named(a netip.Addr, svc string) {
	e.t.Helper()
	var where string
	err := guest.Eventually(programTimeout, 250*time.Millisecond, func() (bool, string) {
		evs, err := e.cluster.Client.CoreV1().Events(e.ns).List(e.t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, ev := range evs.Items {
			if ev.Type == v1.EventTypeWarning && ev.InvolvedObject.Name == svc && strings.Contains(ev.Message, a.String()) {
				where = "Warning event " + ev.Reason + ": " + ev.Message
				return true, ""
			}
		}
		if ok, line := e.daemons[0].LogContains(a.String(), svc); ok {
			where = "daemon log: " + line
			return true, ""
		}
		return false, "no Warning event on " + svc + " and no log line names " + a.String()
	})
	if err != nil {
		e.t.Errorf("Nobody is told that Service %s claims the node's address %s: %v", svc, a, err)
		return
	}
	e.t.Logf("Service %s claiming %s was reported: %s", svc, a, where)
}

// foreignVS is a virtual server another program made, as it made it.
type foreignVS struct {
	vip   netip.AddrPort
	vs    guest.VirtualServer
	reals string // as guest.Weights prints them
	owner string // the pod its one real server is
}

// foreignVirtualServer makes, before the daemon starts, what keepalived
// would: an address on a dummy interface of its own and a virtual server on
// it (wlc) with one real server, the pod own. The client reaches own there.
func (e *env) foreignVirtualServer(cl *guest.Netns, own *guest.Pod) foreignVS {
	e.t.Helper()
	vip := netip.AddrPortFrom(netip.MustParseAddr(foreignAddr), servicePort)
	del, err := guest.AddDummy(foreignLink, vip.Addr())
	e.must(err, "adding keepalived's interface")
	e.t.Cleanup(func() { _ = del() })
	rs := netip.AddrPortFrom(own.Addr(false), guest.BackendPort)
	e.must(guest.AddVirtualServer(vip, "tcp", "wlc", map[netip.AddrPort]int{rs: 3}), "adding keepalived's virtual server")
	e.t.Cleanup(func() { _ = guest.DeleteVirtualServer(vip, "tcp") })
	f := foreignVS{vip: vip, owner: own.Name}
	f.vs, f.reals = e.readVS(vip)
	e.t.Logf("Made by hand on %s: IPVS tcp %s, scheduler %s, real servers %s", foreignLink, vip, f.vs.Scheduler, f.reals)
	e.reaches(cl, vip, 4, guest.Counts{own.Name: 4}, "the hand-made virtual server")
	return f
}

// readVS reads virtual server vip's settings and real servers ("absent"
// when it does not exist).
func (e *env) readVS(vip netip.AddrPort) (guest.VirtualServer, string) {
	e.t.Helper()
	vs, _, err := guest.Service(vip, "tcp")
	e.must(err, "reading IPVS")
	reals, err := guest.Weights(vip, "tcp")
	e.must(err, "reading IPVS")
	return vs, reals
}

// foreignSurvives is the ForeignVirtualServer part (see Test12Safety).
func (e *env) foreignSurvives(cl *guest.Netns, f foreignVS, pods []*guest.Pod) {
	svc := e.service("claim", ipv4Only, externalIPs(f.vip.Addr().String()))
	e.slicesInOrder(svc, []bool{false}, readyPods(pods...)...)
	cip := e.clusterIP(svc, false)
	took := e.waitWeights(cip, "tcp", weights(false, 1, pods...))
	e.t.Logf("Service claim (external IP %s) is programmed at its cluster IP %s (waited %v)", f.vip.Addr(), cip, took)
	e.keeps(f, "while Service claim exists", 2*safetySyncPeriod+safetySyncPeriod/2)
	e.reaches(cl, f.vip, 6, guest.Counts{f.owner: 6}, "the hand-made virtual server while claim exists")

	e.deleteService("claim")
	e.waitAbsent(cip)
	e.keeps(f, "after Service claim was deleted", safetySyncPeriod+safetySyncPeriod/2)
	e.reaches(cl, f.vip, 6, guest.Counts{f.owner: 6}, "the hand-made virtual server after claim was deleted")
}

// keeps checks every 250 ms, for d, that the foreign virtual server is as
// it was made; it reports the first difference.
func (e *env) keeps(f foreignVS, when string, d time.Duration) {
	e.t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		vs, reals := e.readVS(f.vip)
		if vs != f.vs || reals != f.reals {
			e.t.Errorf("%s, after %v: IPVS tcp %s has scheduler %q flags %#x and real servers %q; "+
				"it was made with scheduler %q flags %#x and real servers %q",
				when, time.Since(start).Round(time.Millisecond), f.vip, vs.Scheduler, vs.Flags, reals, f.vs.Scheduler, f.vs.Flags, f.reals)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	e.t.Logf("%s: IPVS tcp %s kept scheduler %s and real servers %s for %v", when, f.vip, f.vs.Scheduler, f.reals, d)
}
