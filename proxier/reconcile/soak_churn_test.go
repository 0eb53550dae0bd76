package reconcile

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"syscall"
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

// soakSlots is how many services the soak churns: service svc-i always
// uses the addresses and ports of slot i, whatever its kind, so that the
// set of kernel objects (and the memory they take) is bounded.
const soakSlots = 10

// The objects the kernel refuses during the soak (EINVAL): one virtual
// server, one real server and one address. Only these: every other object
// must converge, so that convergence is well defined.
const (
	refusedVS   = "tcp 198.18.0.13:80" // svc-3's cluster IP when it is TCP
	refusedReal = "198.18.10.13:8080"  // one of the endpoint addresses
	refusedAddr = "198.18.6.15"        // svc-5's load-balancer IP
)

// strayPort is the port of the virtual servers drift adds.
const strayPort = 9999

// transientErrnos are the kernel's answers that a retry can fix.
var transientErrnos = []syscall.Errno{syscall.ENOBUFS, syscall.ENOMEM, syscall.EBUSY, syscall.EINTR}

func soakName(i int) types.NamespacedName {
	return types.NamespacedName{Namespace: "soak", Name: fmt.Sprintf("svc-%d", i)}
}

// randomService builds service svc-i of a random kind, with a random slice
// (or none).
func randomService(rng *rand.Rand, i int) (*v1.Service, []*discovery.EndpointSlice) {
	name := soakName(i).Name
	mut := []func(*v1.Service){k8stest.ClusterIPs(fmt.Sprintf("198.18.0.%d", 10+i))}
	lb := k8stest.LoadBalancer(int32(30100+i), fmt.Sprintf("198.18.6.%d", 10+i))
	udp := false
	switch rng.IntN(7) {
	case 1:
		udp = true
		mut = append(mut, k8stest.Protocol(v1.ProtocolUDP))
	case 2:
		mut = append(mut, k8stest.NodePort(int32(30100+i)))
	case 3:
		mut = append(mut, lb, func(s *v1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"198.18.100.0/24"} })
	case 4:
		mut = append(mut, lb, k8stest.ExternalLocal, func(s *v1.Service) { s.Spec.HealthCheckNodePort = int32(32100 + i) })
	case 5:
		mut = append(mut, k8stest.Annotate("ipvs-proxy.io/scheduler", []string{"lc", "wrr", "sh"}[rng.IntN(3)]))
	case 6:
		mut = append(mut, func(s *v1.Service) { s.Spec.SessionAffinity = v1.ServiceAffinityClientIP })
	}
	svc := k8stest.Service("soak", name, mut...)
	if rng.IntN(8) == 0 {
		return svc, nil // no endpoints yet
	}
	var sliceMut []func(*discovery.EndpointSlice)
	if udp {
		sliceMut = append(sliceMut, k8stest.SliceProtocol(v1.ProtocolUDP))
	}
	return svc, []*discovery.EndpointSlice{k8stest.Slice("soak", name, name+"-1", randomEndpoints(rng), sliceMut...)}
}

// randomEndpoints returns up to four distinct endpoints from a pool of 14
// addresses (one refused), each ready, terminating (serving or not) or
// not ready, on this node or another.
func randomEndpoints(rng *rand.Rand) []discovery.Endpoint {
	var eps []discovery.Endpoint
	var used []int
	for range rng.IntN(5) {
		n := 1 + rng.IntN(14)
		if slices.Contains(used, n) {
			continue
		}
		used = append(used, n)
		mut := []func(*discovery.Endpoint){k8stest.OnNode([]string{"node-a", "node-b"}[rng.IntN(2)])}
		switch x := rng.IntN(10); {
		case x == 0:
			mut = append(mut, k8stest.NotReady)
		case x == 1:
			mut = append(mut, k8stest.Terminating(true))
		case x == 2:
			mut = append(mut, k8stest.Terminating(false))
		}
		eps = append(eps, k8stest.Endpoint(fmt.Sprintf("198.18.10.%d", n), mut...))
	}
	return eps
}

// A fault phase: transient errors fail each call with probability rate, or
// every call of one fake (outage) fails.
type faultPhase struct {
	rate   float64
	outage string // "ipvs", "addr", "netfilter", "conntrack" or ""
}

// randomPhase picks the next phase: mostly some failure rate, from none to
// most calls, sometimes one subsystem down.
func randomPhase(rng *rand.Rand) faultPhase {
	if rng.IntN(6) == 0 {
		return faultPhase{outage: []string{"ipvs", "addr", "netfilter", "conntrack"}[rng.IntN(4)]}
	}
	return faultPhase{rate: []float64{0, 0.02, 0.1, 0.3, 0.6}[rng.IntN(5)]}
}

// setFaults replaces every fake's rules: the refusals, plus the phase's
// transient errors.
func (s *soak) setFaults(p faultPhase) {
	r := s.rig
	s.stopFaults()
	refused := fmt.Errorf("injected refusal: %w", syscall.EINVAL)
	r.ipvs.Fail(ipvs.CallAddVirtualServer, fault.Rule{Subject: refusedVS, Err: refused})
	r.ipvs.Fail(ipvs.CallAddRealServer, fault.Rule{Subject: refusedReal, Err: refused})
	r.addr.Fail(addr.CallBind, fault.Rule{Subject: refusedAddr, Err: refused})
	fails := map[string]func(fault.Rule){
		"ipvs":      func(f fault.Rule) { r.ipvs.Fail("", f) },
		"addr":      func(f fault.Rule) { r.addr.Fail("", f) },
		"netfilter": func(f fault.Rule) { r.nf.Fail("", f) },
		"conntrack": func(f fault.Rule) { r.ct.Fail("", f) },
	}
	if p.outage != "" {
		fails[p.outage](fault.Rule{Err: fmt.Errorf("injected outage: %w", syscall.ENOBUFS)})
		return
	}
	if p.rate == 0 {
		return
	}
	// Four rules of rate/4: together they fail about rate of all calls,
	// each with one of the errors.
	for _, errno := range transientErrnos {
		for _, fail := range fails {
			fail(fault.Rule{Err: fmt.Errorf("injected: %w", errno), Probability: p.rate / 4})
		}
	}
}

// stopFaults removes every rule, refusals included.
func (s *soak) stopFaults() {
	s.ipvs.ClearFaults()
	s.addr.ClearFaults()
	s.nf.ClearFaults()
	s.ct.ClearFaults()
}

// injected returns how many calls the rules failed so far, all fakes.
func (s *soak) injected() int {
	return s.ipvs.Injected() + s.addr.Injected() + s.nf.Injected() + s.ct.Injected()
}

// traffic gives a random real server in the kernel connections (or none),
// so that drains end by idleness or by timeout.
func (s *soak) traffic() {
	svcs := s.ipvs.Services()
	if len(svcs) == 0 {
		return
	}
	svc := svcs[s.rng.IntN(len(svcs))]
	if len(svc.Reals) == 0 {
		return
	}
	rs := svc.Reals[s.rng.IntN(len(svc.Reals))]
	conns := uint32(s.rng.IntN(3)) * uint32(s.rng.IntN(5))
	_ = s.ipvs.SetStats(svc.VSKey, rs.RSKey, model.RealServerStats{ActiveConns: conns})
}

// drift changes the kernel behind the engine's back, as an operator or
// another program could; the periodic repair must undo it. The fakes'
// faults apply to these calls too, so they may not happen.
func (s *soak) drift() {
	s.drifts++
	s.drifted = true
	svcs := s.ipvs.Services()
	addrs, _ := s.addr.List()
	switch s.rng.IntN(5) {
	case 0:
		if len(svcs) > 0 {
			_ = s.ipvs.DeleteVirtualServer(svcs[s.rng.IntN(len(svcs))].VSKey)
		}
	case 1:
		if len(svcs) > 0 {
			if svc := svcs[s.rng.IntN(len(svcs))]; len(svc.Reals) > 0 {
				_ = s.ipvs.DeleteRealServer(svc.VSKey, svc.Reals[s.rng.IntN(len(svc.Reals))].RSKey)
			}
		}
	case 2:
		if len(addrs) > 0 {
			_ = s.addr.Unbind(addrs[s.rng.IntN(len(addrs))])
		}
	case 3:
		s.nf.Tamper(func(n *model.Netfilter) { n.Ports = n.Ports[:len(n.Ports)/2] })
	case 4:
		// A stray virtual server on one of our addresses: ours, unwanted,
		// unless the address stops being ours before the engine sees it.
		if len(addrs) > 0 {
			k := model.VSKey{Addr: addrs[s.rng.IntN(len(addrs))], Port: strayPort, Proto: model.TCP}
			_ = s.ipvs.AddVirtualServer(model.VirtualServer{VSKey: k, Scheduler: "rr"})
		}
	}
}

// churn adds, changes or deletes one to three services; most of the time
// they are handed to the next engine call at once, else they wait for a
// later one, as the tracker coalesces changes.
func (s *soak) churn() {
	for range 1 + s.rng.IntN(3) {
		i := s.rng.IntN(soakSlots)
		name := soakName(i)
		switch x := s.rng.IntN(10); {
		case x < 2:
			s.src.remove(name)
		case x < 5 && s.src.svcs[name] != nil:
			// Endpoints change, the service does not.
			svc := s.src.svcs[name]
			udp := svc.Spec.Ports[0].Protocol == v1.ProtocolUDP
			var mut []func(*discovery.EndpointSlice)
			if udp {
				mut = append(mut, k8stest.SliceProtocol(v1.ProtocolUDP))
			}
			s.src.put(svc, k8stest.Slice("soak", name.Name, name.Name+"-1", randomEndpoints(s.rng), mut...))
		default:
			svc, sls := randomService(s.rng, i)
			s.src.put(svc, sls...)
		}
		s.pending[name] = true
	}
}

// advance moves the fake clock: mostly a little, sometimes past every
// backoff and drain timeout.
func (s *soak) advance() {
	d := time.Duration(s.rng.IntN(3000)) * time.Millisecond
	if s.rng.IntN(20) == 0 {
		d = retryMax + time.Second
	}
	s.clock.Step(d)
}

// nodeChange gives the node a second address or takes it away, and
// rebuilds everything as the daemon does when the Node changes.
func (s *soak) nodeChange() {
	ips := []netip.Addr{netip.MustParseAddr("198.18.1.1")}
	if len(s.node.IPs) == 1 {
		ips = append(ips, netip.MustParseAddr("198.18.1.2"))
	}
	s.node.IPs = ips
	s.eng.SetNode(s.node)
	// Node ports on an address the node regains are ours again: the
	// engine takes them at its next full read.
	s.drifted = true
	s.fulls++
	s.check("full", s.eng.Full(s.ctx, s.take(), true))
}

// bound returns the addresses the fake binds, as the addr fake lists them.
func (s *soak) bound() []netip.Addr {
	addrs, err := s.addr.List()
	if err != nil {
		s.t.Fatalf("listing the fake's addresses: %v", err)
	}
	return addrs
}
