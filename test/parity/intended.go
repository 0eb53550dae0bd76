package parity

import (
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Intended is a difference from kube-proxy's IPVS mode that ipvs-proxy
// makes on purpose.
type Intended struct {
	// Name is a short identifier, printed in the suite's counts.
	Name string
	// Reason says in one line why ipvs-proxy differs.
	Reason string
	// Applies reports whether the rule explains difference d. It looks at
	// the objects (the virtual and real servers, the services, the
	// endpoints, the host's addresses), never at printed text.
	Applies func(d *Difference, w *World) bool
}

// IntendedDifferences is the one list of the differences from kube-proxy
// that are on purpose. docs/migrating-from-kube-proxy.md, "Differences from
// kube-proxy", says the same in prose; keep the two in step. Any difference
// no entry explains fails the suite.
var IntendedDifferences = []Intended{
	{
		Name:    "terminating-at-weight-0",
		Reason:  "a terminating endpoint stays a real server at weight 0, so its open connections finish while new ones go elsewhere; kube-proxy never adds it",
		Applies: terminatingAtWeight0,
	},
	{
		Name:    "hash-fallback-flag",
		Reason:  "sh and mh get their fallback flag (flag-1), so they skip weight-0 (draining) real servers instead of sending clients to them (kubernetes#121590)",
		Applies: hashFallbackFlag,
	},
	{
		Name:    "host-address-not-bound",
		Reason:  "a service address that is already the host's (on another interface) is served but never bound on kube-ipvs0, so the proxy never takes over or removes a host address",
		Applies: hostAddressNotBound,
	},
	{
		Name:   "special-address-refused",
		Reason: "service and endpoint addresses that are nobody's (loopback, multicast, link-local, unspecified, 255.255.255.255) are skipped with an event, never programmed; a skipped endpoint counts for nothing: not as local (externalTrafficPolicy Local falls back to the cluster's endpoints), not as an endpoint without topology hints",
		Applies: func(d *Difference, w *World) bool {
			return specialAddressRefused(d, w) || refusedLocalFallback(d, w) || refusedEndpointTopology(d, w)
		},
	},
	{
		Name:    "internal-local-no-fallback",
		Reason:  "internalTrafficPolicy Local without a local endpoint has no real server (KEP-2086, as kube-proxy's iptables and nftables modes); kube-proxy's IPVS mode falls back to every endpoint",
		Applies: internalLocalNoFallback,
	},
	{
		Name:    "nodeport-not-on-service-address",
		Reason:  "node ports listen on the node's addresses only; with --nodeport-addresses CIDRs kube-proxy's IPVS mode also opens them on the service addresses it bound on kube-ipvs0 that fall in those CIDRs (it lists every interface, kube-ipvs0 included), so another service's IP answers on every node port",
		Applies: nodePortNotOnServiceAddress,
	},
	{
		Name:    "scheduler-annotation",
		Reason:  "a service's ipvs-proxy.io/scheduler (or kube-router's) annotation chooses its scheduler and flags; kube-proxy ignores it",
		Applies: schedulerAnnotation,
	},
}

// Explain returns the intended difference that explains d, or nil.
func Explain(d *Difference, w *World) *Intended {
	for i := range IntendedDifferences {
		if IntendedDifferences[i].Applies(d, w) {
			return &IntendedDifferences[i]
		}
	}
	return nil
}

// terminatingAtWeight0: a real server only ipvs-proxy has, at weight 0,
// whose endpoints (every copy of the address with that port, for the
// service ports of the virtual server) are all terminating.
func terminatingAtWeight0(d *Difference, w *World) bool {
	if d.Object != ObjRealServer || d.Side != OnlyIPVSProxy || d.IPVSProxyRS.Weight != 0 {
		return false
	}
	found := false
	for _, r := range w.Lookup(d.VS) {
		for _, e := range w.Endpoints(r, d.VS.Addr.Is4()) {
			if e.Addr == d.RS.Addr && e.Port == d.RS.Port {
				if !e.Terminating() {
					return false
				}
				found = true
			}
		}
	}
	return found
}

// hashFallbackFlag: the same sh or mh scheduler on both sides, and the
// flags differ only in ipvs-proxy's flag-1.
func hashFallbackFlag(d *Difference, _ *World) bool {
	if d.Object != ObjVirtualServer || d.Side != Both || d.Field != "flags" {
		return false
	}
	kp, ip := d.KubeProxyVS, d.IPVSProxyVS
	hash := kp.Scheduler == ip.Scheduler && (kp.Scheduler == "sh" || kp.Scheduler == "mh")
	return hash && kp.Flags^ip.Flags == FlagSched1 && ip.Flags&FlagSched1 != 0
}

// hostAddressNotBound: an address kube-proxy bound on kube-ipvs0 that is
// also on another interface of the host.
func hostAddressNotBound(d *Difference, w *World) bool {
	return d.Object == ObjAddress && d.Side == OnlyKubeProxy && w.IsHost(d.Addr.Addr())
}

// specialAddressRefused: a virtual server, bound address or real server
// only kube-proxy has, on a special address.
func specialAddressRefused(d *Difference, _ *World) bool {
	if d.Side != OnlyKubeProxy {
		return false
	}
	switch d.Object {
	case ObjVirtualServer:
		return Special(d.VS.Addr)
	case ObjAddress:
		return Special(d.Addr.Addr())
	}
	return Special(d.RS.Addr)
}

// refusedLocalFallback: a real server only ipvs-proxy has, one of the
// service's endpoints, on an external virtual server (node port, external
// or load-balancer IP) of a service with externalTrafficPolicy Local whose
// usable local endpoints in that family all have special addresses.
// ipvs-proxy skipped them, so the node has no local endpoint and the
// virtual server falls back to the cluster's endpoints; kube-proxy counts
// them as local, and the kernel refuses them, leaving it empty (seed 17).
func refusedLocalFallback(d *Difference, w *World) bool {
	if d.Object != ObjRealServer || d.Side != OnlyIPVSProxy {
		return false
	}
	for _, r := range w.Lookup(d.VS) {
		if r.Kind == KindCluster || r.Service.Spec.ExternalTrafficPolicy != v1.ServiceExternalTrafficPolicyLocal {
			continue
		}
		eps := w.Endpoints(r, d.VS.Addr.Is4())
		ordinary := slices.DeleteFunc(slices.Clone(eps), func(e Endpoint) bool { return Special(e.Addr) })
		isRS := func(e Endpoint) bool { return e.Addr == d.RS.Addr && e.Port == d.RS.Port }
		if hasUsableLocal(eps) && !hasUsableLocal(ordinary) && slices.ContainsFunc(ordinary, isRS) {
			return true
		}
	}
	return false
}

// refusedEndpointTopology: a real server kube-proxy gives new connections
// and ipvs-proxy does not (only kube-proxy has it, or at weight 0), whose
// endpoints' zone hints leave out the node's zone, on a service port whose
// ready endpoints all have zone hints, one for the node's zone, except
// ready ones on special addresses. kube-proxy counts those, and one
// without hints turns topology off (pkg/proxy/topology.go,
// topologyModeFromHints); ipvs-proxy skipped them, so the hints apply
// (seed 28).
func refusedEndpointTopology(d *Difference, w *World) bool {
	dropped := d.Side == OnlyKubeProxy ||
		d.Side == Both && d.Field == "weight" && d.KubeProxyRS.Weight > 0 && d.IPVSProxyRS.Weight == 0
	if d.Object != ObjRealServer || !dropped || w.Cluster.Node.Zone == "" {
		return false
	}
	for _, r := range w.Lookup(d.VS) {
		if hintsOnlyForRefused(w.Endpoints(r, d.VS.Addr.Is4()), d.RS, w.Cluster.Node.Zone) {
			return true
		}
	}
	return false
}

// hintsOnlyForRefused reports whether, among eps, a ready endpoint on a
// special address has no zone hint while every other ready one has, one
// of them for zone, and rs's endpoint is not hinted for zone.
func hintsOnlyForRefused(eps []Endpoint, rs RSKey, zone string) bool {
	hintless, forZone, rsInZone := false, false, false
	for _, e := range eps {
		hints := zoneHints(e)
		switch {
		case Special(e.Addr):
			hintless = hintless || e.Ready() && len(hints) == 0
		case e.Ready() && len(hints) == 0:
			return false
		case e.Ready() && slices.Contains(hints, zone):
			forZone = true
		}
		if e.Addr == rs.Addr && e.Port == rs.Port && slices.Contains(hints, zone) {
			rsInZone = true
		}
	}
	return hintless && forZone && !rsInZone
}

// zoneHints returns the zones an endpoint is hinted for.
func zoneHints(e Endpoint) []string {
	var out []string
	if h := e.Endpoint.Hints; h != nil {
		for _, z := range h.ForZones {
			out = append(out, z.Name)
		}
	}
	return out
}

// internalLocalNoFallback: a real server only kube-proxy has on a cluster
// IP of a service with internalTrafficPolicy Local that has no usable
// local endpoint (ready, or serving and terminating) in that family.
func internalLocalNoFallback(d *Difference, w *World) bool {
	if d.Object != ObjRealServer || d.Side != OnlyKubeProxy {
		return false
	}
	for _, r := range w.Lookup(d.VS) {
		itp := r.Service.Spec.InternalTrafficPolicy
		if r.Kind == KindCluster && itp != nil && *itp == v1.ServiceInternalTrafficPolicyLocal &&
			!hasUsableLocal(w.Endpoints(r, d.VS.Addr.Is4())) {
			return true
		}
	}
	return false
}

// hasUsableLocal reports whether a local endpoint is ready, or serving and
// terminating.
func hasUsableLocal(eps []Endpoint) bool {
	for _, e := range eps {
		if e.Local() && (e.Ready() || e.Serving() && e.Terminating()) {
			return true
		}
	}
	return false
}

// schedulerAnnotation: scheduler or flags differ on a virtual server of a
// service with a scheduler annotation.
func schedulerAnnotation(d *Difference, w *World) bool {
	if d.Object != ObjVirtualServer || d.Side != Both || (d.Field != "scheduler" && d.Field != "flags") {
		return false
	}
	for _, r := range w.Lookup(d.VS) {
		if hasSchedulerAnnotation(r.Service) {
			return true
		}
	}
	return false
}

// nodePortNotOnServiceAddress: a virtual server only kube-proxy has, on a
// node port, whose address is not the host's but one kube-proxy bound on
// kube-ipvs0, and which the seed's --nodeport-addresses CIDRs select. Why
// kube-proxy has it (k8s.io/kubernetes v1.37.2): syncProxyRules takes the
// node-port addresses from NodePortAddresses.GetNodeIPs
// (pkg/proxy/util/nodeport_addresses.go) unless the family matches all;
// GetNodeIPs filters net.InterfaceAddrs(), which lists kube-ipvs0 too,
// while the match-all path uses GetAllLocalAddressesExcept(kube-ipvs0).
func nodePortNotOnServiceAddress(d *Difference, w *World) bool {
	a := d.VS.Addr
	if d.Object != ObjVirtualServer || d.Side != OnlyKubeProxy || w.IsHost(a) ||
		!slices.Contains(w.KubeProxyBound, a) || !hasKind(w.Lookup(d.VS), KindNodePort) {
		return false
	}
	cidrs, all := w.nodePortCIDRs(a.Is4())
	return !all && slices.ContainsFunc(cidrs, func(p netip.Prefix) bool { return p.Contains(a) })
}

// nodePortCIDRs returns the seed's --nodeport-addresses CIDRs of one family
// as kube-proxy's NewNodePortAddresses reads them once the keywords are
// expanded, and whether they match every address of the family: no CIDR of
// the family, "all", or a zero CIDR. "primary" is the node IP.
func (w *World) nodePortCIDRs(v4 bool) (cidrs []netip.Prefix, all bool) {
	for _, f := range w.Cluster.Flags {
		value, ok := strings.CutPrefix(f, "--nodeport-addresses=")
		if !ok {
			continue
		}
		for _, v := range strings.Split(value, ",") {
			switch v {
			case "all":
				return nil, true
			case "primary":
				ip := NodeIPv6
				if v4 {
					ip = NodeIPv4
				}
				v = netip.PrefixFrom(ip, ip.BitLen()).String()
			case "localhost":
				v = "::1/128"
				if v4 {
					v = "127.0.0.0/8"
				}
			}
			p, err := netip.ParsePrefix(v)
			if err != nil || p.Addr().Is4() != v4 {
				continue
			}
			if p.Bits() == 0 {
				return nil, true
			}
			cidrs = append(cidrs, p.Masked())
		}
	}
	return cidrs, len(cidrs) == 0
}
