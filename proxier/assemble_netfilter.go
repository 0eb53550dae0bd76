package proxier

import (
	"slices"

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
func (a *Assembler) appendPorts(out []model.ServicePort, byOwner map[string]counted[model.ServicePort], foreign func(model.VSKey) bool) []model.ServicePort {
	for _, c := range byOwner {
		if cl := a.claims[c.v.VSKey]; len(cl) > 0 && cl[0] == c.owner && (foreign == nil || !foreign(c.v.VSKey)) {
			out = append(out, c.v)
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
		byOwner := a.ports[p.Addr]
		if byOwner == nil {
			byOwner = map[string]counted[model.ServicePort]{}
			a.ports[p.Addr] = byOwner
		}
		k := f.Name.String() + " " + p.String() // the dump line names every field
		c := byOwner[k]
		c.v, c.owner, c.refs = p, f.Name, c.refs+delta
		if c.refs > 0 {
			byOwner[k] = c
			continue
		}
		delete(byOwner, k)
		if len(byOwner) == 0 {
			delete(a.ports, p.Addr)
		}
	}
	a.nfDirty.NodePorts = append(a.nfDirty.NodePorts, f.NodePorts...)
	a.nfDirty.Hairpin = append(a.nfDirty.Hairpin, f.Hairpin...)
	addRefs(a.nports, f.NodePorts, delta)
	addRefs(a.hair, f.Hairpin, delta)
}

// sameNetfilter reports whether two fragments contribute the same netfilter
// entries (fragments list them in a deterministic order).
func sameNetfilter(x, y *ServiceState) bool {
	return slices.Equal(x.NodePorts, y.NodePorts) && slices.Equal(x.Hairpin, y.Hairpin) &&
		slices.EqualFunc(x.Ports, y.Ports, model.ServicePort.Equal)
}
