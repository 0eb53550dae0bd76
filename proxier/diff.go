package proxier

import (
	"net/netip"
	"slices"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Diff returns the plan that turns observed into desired. It is pure. The
// operations are ordered so traffic is never sent into a hole: virtual
// servers and their real servers are added before their address is bound,
// and an address is unbound before its virtual servers are deleted.
//
// Observed must hold only what this proxy owns (the reconcile engine filters
// foreign and excluded virtual servers out before calling Diff), because
// everything observed but not desired is deleted.
func Diff(desired, observed *model.State) *model.Plan {
	var ops []model.Op
	for _, k := range desired.SortedKeys() {
		ops = DiffService(ops, desired.Services[k], observed.Services[k])
	}
	for _, k := range observed.SortedKeys() {
		if _, ok := desired.Services[k]; !ok {
			ops = DiffService(ops, nil, observed.Services[k])
		}
	}
	ops = DiffAddresses(ops, desired.Addresses, observed.Addresses)
	SortOps(ops)
	plan := &model.Plan{Ops: ops}
	if !desired.Netfilter.Equal(&observed.Netfilter) {
		nf := desired.Netfilter
		plan.Netfilter = &nf
	}
	return plan
}

// DiffService appends to ops what turns have into want for one virtual
// server; either may be nil (absent).
func DiffService(ops []model.Op, want, have *model.Service) []model.Op {
	switch {
	case want == nil && have == nil:
		return ops
	case want == nil:
		return append(ops, model.Op{Kind: model.OpDeleteVirtualServer, VS: have.VirtualServer})
	case have == nil:
		ops = append(ops, model.Op{Kind: model.OpAddVirtualServer, VS: want.VirtualServer})
		for _, r := range want.Reals {
			ops = append(ops, model.Op{Kind: model.OpAddRealServer, VS: want.VirtualServer, RS: r})
		}
		return ops
	}
	if want.VirtualServer != have.VirtualServer {
		ops = append(ops, model.Op{Kind: model.OpUpdateVirtualServer, VS: want.VirtualServer})
	}
	return diffReals(ops, want, have)
}

// diffReals merges two sorted real-server lists.
func diffReals(ops []model.Op, want, have *model.Service) []model.Op {
	i, j := 0, 0
	for i < len(want.Reals) || j < len(have.Reals) {
		switch {
		case j == len(have.Reals) || i < len(want.Reals) && want.Reals[i].RSKey.Less(have.Reals[j].RSKey):
			ops = append(ops, model.Op{Kind: model.OpAddRealServer, VS: want.VirtualServer, RS: want.Reals[i]})
			i++
		case i == len(want.Reals) || have.Reals[j].RSKey.Less(want.Reals[i].RSKey):
			ops = append(ops, model.Op{Kind: model.OpDeleteRealServer, VS: want.VirtualServer, RS: have.Reals[j]})
			j++
		default:
			if want.Reals[i].Weight != have.Reals[j].Weight {
				ops = append(ops, model.Op{Kind: model.OpUpdateRealServer, VS: want.VirtualServer, RS: want.Reals[i]})
			}
			i++
			j++
		}
	}
	return ops
}

// DiffAddresses appends the bind and unbind operations that turn the have
// set into the want set, in address order.
func DiffAddresses(ops []model.Op, want, have map[netip.Addr]struct{}) []model.Op {
	var bind, unbind []netip.Addr
	for a := range want {
		if _, ok := have[a]; !ok {
			bind = append(bind, a)
		}
	}
	for a := range have {
		if _, ok := want[a]; !ok {
			unbind = append(unbind, a)
		}
	}
	slices.SortFunc(bind, netip.Addr.Compare)
	slices.SortFunc(unbind, netip.Addr.Compare)
	for _, a := range bind {
		ops = append(ops, model.Op{Kind: model.OpBindAddress, Addr: a})
	}
	for _, a := range unbind {
		ops = append(ops, model.Op{Kind: model.OpUnbindAddress, Addr: a})
	}
	return ops
}

// SortOps orders operations by kind (the apply order of model.OpKind),
// keeping the relative order within a kind.
func SortOps(ops []model.Op) {
	slices.SortStableFunc(ops, func(a, b model.Op) int { return int(a.Kind) - int(b.Kind) })
}
