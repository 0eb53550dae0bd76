package conntrack

import (
	"net/netip"
	"slices"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// StaleFilters returns the filters that delete the stale entries among the
// given ones, following kube-proxy's CleanStaleEntries: an entry is stale
// when its protocol is UDP, its original destination is a service
// address:port in serving, and its reply does not come from one of that
// service's serving endpoint addresses (it was answered by a removed
// endpoint, or by nothing because the service had no endpoint yet).
//
// serving maps each UDP virtual server (ClusterIP, external IP,
// load-balancer IP, or NodePort on a node address) to the addresses of its
// serving endpoints (ready, or terminating but serving); a virtual server
// with no serving endpoint maps to an empty list, so all its entries are
// stale. Entries to addresses not in serving are left alone.
//
// kube-proxy keys service IPs by address alone and NodePorts by port alone,
// because iptables NodePorts answer on any node address. With IPVS every
// service address:port, NodePorts included, is its own virtual server, so
// the key here is the exact address:port, which never touches another
// service's flows that share the address.
//
// The result is sorted and has one filter per (service, reply source).
func StaleFilters(entries []Entry, serving map[model.VSKey][]netip.Addr) []Filter {
	var out []Filter
	for _, e := range entries {
		if e.Proto != model.UDP {
			continue
		}
		k := model.VSKey{Addr: e.Orig.Dst.Addr(), Port: e.Orig.Dst.Port(), Proto: e.Proto}
		eps, ok := serving[k]
		if !ok || slices.Contains(eps, e.Reply.Src.Addr()) {
			continue
		}
		out = append(out, Filter{Proto: e.Proto, OrigDst: k.Addr, OrigDstPort: k.Port, ReplySrc: e.Reply.Src.Addr()})
	}
	slices.SortFunc(out, compareFilter)
	return slices.Compact(out)
}

func compareFilter(a, b Filter) int {
	if a.Proto != b.Proto {
		return int(a.Proto) - int(b.Proto)
	}
	if c := a.OrigDst.Compare(b.OrigDst); c != 0 {
		return c
	}
	if a.OrigDstPort != b.OrigDstPort {
		return int(a.OrigDstPort) - int(b.OrigDstPort)
	}
	if c := a.ReplySrc.Compare(b.ReplySrc); c != 0 {
		return c
	}
	return int(a.ReplySrcPort) - int(b.ReplySrcPort)
}

func compareEntry(a, b Entry) int {
	if a.Proto != b.Proto {
		return int(a.Proto) - int(b.Proto)
	}
	if c := a.Orig.Dst.Compare(b.Orig.Dst); c != 0 {
		return c
	}
	if c := a.Orig.Src.Compare(b.Orig.Src); c != 0 {
		return c
	}
	if c := a.Reply.Src.Compare(b.Reply.Src); c != 0 {
		return c
	}
	return a.Reply.Dst.Compare(b.Reply.Dst)
}
