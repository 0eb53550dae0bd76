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
