package proxier

import (
	"slices"

	v1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Topology modes chosen from endpoint hints.
const (
	topologyAll  = ""
	topologyNode = "node"
	topologyZone = "zone"
)

// topologyMode picks the hint kind that applies, as kube-proxy's
// CategorizeEndpoints does: node hints when every ready endpoint has them
// and one is for this node (trafficDistribution PreferSameNode), else zone
// hints when every ready endpoint has them and one is for this node's zone
// (PreferClose / PreferSameZone / topology-aware routing), else all.
func topologyMode(eps []endpoint, node *Node) string {
	zone := node.Labels[v1.LabelTopologyZone]
	allNode, anyNode := true, false
	allZone, anyZone := true, false
	for i := range eps {
		e := &eps[i]
		if !e.ready {
			continue
		}
		if len(e.nodeHints) == 0 {
			allNode = false
		} else if slices.Contains(e.nodeHints, node.Name) {
			anyNode = true
		}
		if len(e.zoneHints) == 0 {
			allZone = false
		} else if zone != "" && slices.Contains(e.zoneHints, zone) {
			anyZone = true
		}
	}
	switch {
	case allNode && anyNode:
		return topologyNode
	case allZone && anyZone:
		return topologyZone
	}
	return topologyAll
}

func availableForTopology(e *endpoint, mode string, node *Node) bool {
	switch mode {
	case topologyNode:
		return slices.Contains(e.nodeHints, node.Name)
	case topologyZone:
		return slices.Contains(e.zoneHints, node.Labels[v1.LabelTopologyZone])
	}
	return true
}

// selection is, for one service port, which endpoints take new connections
// (weight 1) for cluster-wide and for node-local traffic policies.
type selection struct {
	cluster []int // indexes into the endpoint list
	local   []int
}

// categorize implements KEP-1669 and topology: cluster traffic goes to ready
// endpoints in the topology subset, falling back to serving-terminating ones
// when none is ready anywhere; local traffic goes to this node's ready
// endpoints, falling back to its serving-terminating ones.
func categorize(eps []endpoint, node *Node) selection {
	var sel selection
	mode := topologyMode(eps, node)
	for i := range eps {
		if eps[i].ready && availableForTopology(&eps[i], mode, node) {
			sel.cluster = append(sel.cluster, i)
		}
	}
	if len(sel.cluster) == 0 {
		for i := range eps {
			if eps[i].isServingTerminating() && availableForTopology(&eps[i], mode, node) {
				sel.cluster = append(sel.cluster, i)
			}
		}
	}
	for i := range eps {
		if eps[i].ready && eps[i].nodeName == node.Name {
			sel.local = append(sel.local, i)
		}
	}
	if len(sel.local) == 0 {
		for i := range eps {
			if eps[i].isServingTerminating() && eps[i].nodeName == node.Name {
				sel.local = append(sel.local, i)
			}
		}
	}
	return sel
}

// forPort returns the endpoints that take new connections on one virtual
// server of a port, whether the other terminating endpoints it may keep at
// weight 0 are only this node's, and whether it falls back to the cluster's
// endpoints because the node has none of its own (noLocal).
//
// A node-local policy on a cluster IP (internalTrafficPolicy Local) takes
// this node's endpoints only, and none when it has none: the spec's
// meaning, and kube-proxy's nftables mode. A node-local policy on an
// external IP, load-balancer IP or node port (externalTrafficPolicy Local)
// takes this node's endpoints, and the cluster's when the node has none,
// as kube-proxy's IPVS mode does (pkg/proxy/ipvs/proxier.go, syncEndpoint:
// onlyNodeLocalEndpoints with no localEndpoints uses clusterEndpoints,
// kubernetes#97081): pods and the node itself then reach the service
// through its external addresses. noLocal is set only when the cluster has
// endpoints to fall back to; the netfilter program drops new connections
// from outside to such a port (model.ServicePort.NoLocalEndpoints).
//
// kube-proxy's IPVS mode falls back on the cluster IP too, when an
// internalTrafficPolicy Local service is also reachable externally
// (CategorizeEndpoints computes its cluster endpoints then); we do not, on
// purpose (docs/migrating-from-kube-proxy.md).
func (s selection) forPort(kind model.PortKind, local bool) (sel []int, localOnly, noLocal bool) {
	switch {
	case !local:
		return s.cluster, false, false
	case kind == model.KindClusterIP || len(s.local) > 0:
		return s.local, true, false
	}
	return s.cluster, false, len(s.cluster) > 0
}

// realServers returns the real servers of a virtual server of the given
// family: the selected endpoints at weight 1, and every other terminating
// endpoint the policy could reach at weight 0, so the connections it still
// has finish while new ones go elsewhere. Endpoints that are neither
// selected nor terminating are not real servers.
func realServers(eps []endpoint, selected []int, localOnly bool, node *Node, v4 bool) []model.RealServer {
	out := make([]model.RealServer, 0, len(selected))
	chosen := make([]bool, len(eps))
	for _, i := range selected {
		chosen[i] = true
		if eps[i].addr.Is4() == v4 {
			out = append(out, model.RealServer{RSKey: model.RSKey{Addr: eps[i].addr, Port: eps[i].port}, Weight: 1})
		}
	}
	for i := range eps {
		e := &eps[i]
		if chosen[i] || !e.terminating || e.addr.Is4() != v4 || (localOnly && e.nodeName != node.Name) {
			continue
		}
		out = append(out, model.RealServer{RSKey: model.RSKey{Addr: e.addr, Port: e.port}, Weight: 0})
	}
	return out
}

// localReady returns the local selection's ready endpoints (the local
// selection may hold serving-terminating ones as a fallback; those do not
// make a node healthy for its load balancer).
func (s selection) localReady(eps []endpoint) []int {
	var out []int
	for _, i := range s.local {
		if eps[i].ready {
			out = append(out, i)
		}
	}
	return out
}
