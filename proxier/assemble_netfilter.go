package proxier

import (
	"slices"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Netfilter returns the complete netfilter intent, less the ports whose
// virtual server belongs to another program (foreign, nil for none): their
// traffic is that program's, and our netfilter records what we serve. The
// local sources are LocalSources(cfg, node), or cfg.LocalInterface with its
// mark. It costs O(entries · log entries), and takes the changes
// (NetfilterChanges) along: the caller has everything.
func (a *Assembler) Netfilter(cfg *Config, node *Node, foreign func(model.VSKey) bool) model.Netfilter {
	n := a.netfilterSettings(cfg, node)
	for _, byOwner := range a.ports {
		n.Ports = a.appendPorts(n.Ports, byOwner, foreign)
	}
	for k := range a.nports {
		n.NodePorts = append(n.NodePorts, k)
	}
	for k := range a.hair {
		n.Hairpin = append(n.Hairpin, k)
	}
	n.Sort()
	a.nfDirty = model.NetfilterGroups{}
	return n
}

// NetfilterChanges returns the netfilter groups whose entries may have
// changed since the intent was last taken (this call, or Netfilter),
// sorted: the intent taken then with these groups replaced by
// NetfilterOf's is what Netfilter would return now, as long as the foreign
// virtual servers and the settings are the same.
func (a *Assembler) NetfilterChanges() model.NetfilterGroups {
	g := a.nfDirty
	a.nfDirty = model.NetfilterGroups{}
	g.Sort()
	return g
}

// NetfilterOf returns the part of the intent Netfilter would return that
// is in the groups g names, with its settings, sorted. It costs the size of
// those groups.
func (a *Assembler) NetfilterOf(g *model.NetfilterGroups, cfg *Config, node *Node, foreign func(model.VSKey) bool) model.Netfilter {
	n := a.netfilterSettings(cfg, node)
	for _, addr := range g.Addrs {
		n.Ports = a.appendPorts(n.Ports, a.ports[addr], foreign)
	}
	for _, k := range g.NodePorts {
		for _, local := range []bool{false, true} {
			if np := (model.NodePort{Proto: k.Proto, Port: k.Port, Local: local}); a.nports[np] > 0 {
				n.NodePorts = append(n.NodePorts, np)
			}
		}
	}
	for _, e := range g.Hairpin {
		if a.hair[e] > 0 {
			n.Hairpin = append(n.Hairpin, e)
		}
	}
	n.Sort()
	return n
}

// netfilterSettings returns an intent with the settings and no entries
// (LocalCIDRs unsorted).
func (a *Assembler) netfilterSettings(cfg *Config, node *Node) model.Netfilter {
	n := model.Netfilter{MasqueradeAll: cfg.MasqueradeAll, LocalCIDRs: LocalSources(cfg, node)}
	if cfg.LocalInterface.Name != "" {
		n.LocalInterface, n.MasqueradeMark = cfg.LocalInterface, cfg.masqueradeMark()
	}
	return n
}

// appendPorts appends the ports of one address whose virtual server the
// port's service won and that is not foreign.
func (a *Assembler) appendPorts(out []model.ServicePort, byKey map[model.VSKey][]counted[model.ServicePort], foreign func(model.VSKey) bool) []model.ServicePort {
	for k, list := range byKey {
		cl := a.claims[k]
		if len(cl) == 0 || (foreign != nil && foreign(k)) {
			continue
		}
		for _, c := range list {
			if cl[0] == c.owner {
				out = append(out, c.v)
			}
		}
	}
	return out
}

func (a *Assembler) addNetfilter(f *ServiceState, delta int) {
	if len(f.Ports) == 0 && len(f.NodePorts) == 0 && len(f.Hairpin) == 0 {
		return
	}
	a.nfGen++
	for _, p := range f.Ports {
		a.nfDirty.Addrs = append(a.nfDirty.Addrs, p.Addr)
		byKey := a.ports[p.Addr]
		if byKey == nil {
			byKey = map[model.VSKey][]counted[model.ServicePort]{}
			a.ports[p.Addr] = byKey
		}
		if list := countPort(byKey[p.VSKey], f.Name, p, delta); len(list) > 0 {
			byKey[p.VSKey] = list
			continue
		}
		delete(byKey, p.VSKey)
		if len(byKey) == 0 {
			delete(a.ports, p.Addr)
		}
	}
	a.nfDirty.NodePorts = append(a.nfDirty.NodePorts, f.NodePorts...)
	a.nfDirty.Hairpin = append(a.nfDirty.Hairpin, f.Hairpin...)
	addRefs(a.nports, f.NodePorts, delta)
	addRefs(a.hair, f.Hairpin, delta)
}

// countPort adds delta to the count of port p from owner in list (the
// entries of one virtual server's key: one, unless services conflict or a
// service lists the port twice) and returns the list without the entries
// counted down to zero. An entry is an owner and every field of the port.
// The addresses' ports were keyed by owner and port formatted as one
// string, in a map per address: 1.6 KB per cluster IP, 16 MB of the live
// heap at 10,000 services in the VM (T2031Z), and a string built per port.
func countPort(list []counted[model.ServicePort], owner types.NamespacedName, p model.ServicePort, delta int) []counted[model.ServicePort] {
	i := slices.IndexFunc(list, func(c counted[model.ServicePort]) bool { return c.owner == owner && c.v.Equal(p) })
	switch {
	case i < 0 && delta > 0:
		return append(list, counted[model.ServicePort]{v: p, owner: owner, refs: delta})
	case i < 0:
		return list
	}
	if list[i].refs += delta; list[i].refs > 0 {
		return list
	}
	return slices.Delete(list, i, i+1)
}

// sameNetfilter reports whether two fragments contribute the same netfilter
// entries (fragments list them in a deterministic order).
func sameNetfilter(x, y *ServiceState) bool {
	return slices.Equal(x.NodePorts, y.NodePorts) && slices.Equal(x.Hairpin, y.Hairpin) &&
		slices.EqualFunc(x.Ports, y.Ports, model.ServicePort.Equal)
}
