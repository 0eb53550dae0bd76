package parity

import (
	"strings"

	v1 "k8s.io/api/core/v1"
)

// OpenGap names the point of issue 11 an unexplained difference most
// likely belongs to, from its shape alone: a hint for whoever reads the
// report, never a reason to pass. The points: 1 eTP Local fallback, 2 node
// addresses, 3 --nodeport-addresses, 5 EndpointSlice details, 6
// schedulers; anything else is "new".
func OpenGap(d *Difference, w *World) string {
	refs := w.Lookup(d.VS)
	if d.Object == ObjAddress {
		refs = w.AddrRefs(d.Addr.Addr())
	}
	switch {
	case d.Object == ObjVirtualServer && d.Side != Both && hasKind(refs, KindNodePort):
		if w.hasFlag("--nodeport-addresses") {
			return "issue point 3 (--nodeport-addresses)"
		}
		return "issue point 2 (node addresses)"
	case d.Object == ObjVirtualServer && d.Side == Both && (d.Field == "scheduler" || d.Field == "flags"):
		return "issue point 6 (schedulers)"
	case d.Object == ObjRealServer && d.Side == OnlyKubeProxy && externalLocalWithoutLocal(d, refs, w):
		return "issue point 1 (eTP Local fallback)"
	case d.Object == ObjRealServer:
		return "issue point 5 (EndpointSlice details)"
	}
	return "new"
}

// externalLocalWithoutLocal reports whether the real server's virtual
// server is an external one (node port, external or load-balancer IP) of a
// service with externalTrafficPolicy Local that has no usable local
// endpoint in the family.
func externalLocalWithoutLocal(d *Difference, refs []Ref, w *World) bool {
	for _, r := range refs {
		if r.Kind != KindCluster && r.Service.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal &&
			!hasUsableLocal(w.Endpoints(r, d.VS.Addr.Is4())) {
			return true
		}
	}
	return false
}

func hasKind(refs []Ref, k Kind) bool {
	for _, r := range refs {
		if r.Kind == k {
			return true
		}
	}
	return false
}

// hasFlag reports whether the seed sets flag (its name, with the dashes).
func (w *World) hasFlag(flag string) bool {
	for _, f := range w.Cluster.Flags {
		if strings.HasPrefix(f, flag+"=") || f == flag {
			return true
		}
	}
	return false
}
