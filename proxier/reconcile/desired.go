package reconcile

import (
	"cmp"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// desiredIndex holds the desired state incrementally: the fragment each
// Service contributes, who claims each virtual server, and reference counts
// for shared addresses and netfilter entries. Replacing one service's
// fragment costs O(size of that service), never O(all services).
type desiredIndex struct {
	frags  map[types.NamespacedName]*proxier.ServiceState
	claims map[model.VSKey][]types.NamespacedName // sorted, winner first
	vs     map[model.VSKey]*model.Service         // the winners' virtual servers
	addrs  map[netip.Addr]int
	ports  map[string]counted[model.ServicePort] // by owner and port
	nports map[model.NodePort]int
	hair   map[model.Endpoint]int
	// nfDirty is set when the netfilter intent changed since netfilter()
	// was last called.
	nfDirty bool
	// health holds the services with a health-check node port; healthDirty
	// is set when it changed since HealthChecks was last called.
	health      map[types.NamespacedName]HealthCheck
	healthDirty bool
	// noLocal counts the services of proxier.ServiceState.NoLocal, by
	// family (0 IPv4, 1 IPv6) and policy (0 internal, 1 external).
	noLocal [2][2]int
}

// HealthCheck is the health-check node port of an externalTrafficPolicy
// Local service and its number of ready endpoints on this node.
type HealthCheck struct {
	Port           uint16
	LocalEndpoints int
}

type counted[T any] struct {
	v     T
	owner types.NamespacedName
	refs  int
}

func newDesiredIndex() *desiredIndex {
	return &desiredIndex{
		frags:  map[types.NamespacedName]*proxier.ServiceState{},
		claims: map[model.VSKey][]types.NamespacedName{},
		vs:     map[model.VSKey]*model.Service{},
		addrs:  map[netip.Addr]int{},
		ports:  map[string]counted[model.ServicePort]{},
		nports: map[model.NodePort]int{},
		hair:   map[model.Endpoint]int{},
		health: map[types.NamespacedName]HealthCheck{},
	}
}

// set replaces the fragment of one service (nil removes it) and returns the
// virtual servers and addresses whose desired state may have changed, plus
// the conflicts the new fragment runs into.
func (d *desiredIndex) set(name types.NamespacedName, frag *proxier.ServiceState) (keys []model.VSKey, addrs []netip.Addr, problems []proxier.Problem) {
	old := d.frags[name]
	if old == nil && frag == nil {
		return nil, nil, nil
	}
	// Most changes are endpoint changes that leave the netfilter intent
	// alone; skipping them keeps the netfilter program untouched.
	nfSame := old != nil && frag != nil && sameNetfilter(old, frag)
	if old != nil {
		for _, s := range old.Services {
			d.unclaim(s.VSKey, name)
			keys = append(keys, s.VSKey)
		}
		addrs = append(addrs, old.Addresses...)
		d.addAddrs(old.Addresses, -1)
		if !nfSame {
			d.addNetfilter(old, -1)
		}
	}
	if frag == nil {
		delete(d.frags, name)
	} else {
		d.frags[name] = frag
		for _, s := range frag.Services {
			d.claim(s.VSKey, name)
			keys = append(keys, s.VSKey)
			if w := d.claims[s.VSKey][0]; w != name {
				problems = append(problems, proxier.Problem{Kind: "Service", Namespace: name.Namespace, Name: name.Name, Service: name,
					Message: "virtual server " + s.VSKey.String() + " is already claimed by service " + w.String() + "; skipped"})
			}
		}
		addrs = append(addrs, frag.Addresses...)
		d.addAddrs(frag.Addresses, 1)
		if !nfSame {
			d.addNetfilter(frag, 1)
		}
	}
	for _, k := range keys {
		d.refreshWinner(k)
	}
	d.setHealth(name, frag)
	if old != nil {
		d.countNoLocal(old, -1)
	}
	if frag != nil {
		d.countNoLocal(frag, 1)
	}
	return keys, addrs, problems
}

func (d *desiredIndex) countNoLocal(frag *proxier.ServiceState, delta int) {
	for f, nl := range frag.NoLocal {
		if nl.Internal {
			d.noLocal[f][0] += delta
		}
		if nl.External {
			d.noLocal[f][1] += delta
		}
	}
}

func (d *desiredIndex) setHealth(name types.NamespacedName, frag *proxier.ServiceState) {
	old, had := d.health[name]
	if frag == nil || frag.HealthCheckNodePort == 0 {
		if had {
			delete(d.health, name)
			d.healthDirty = true
		}
		return
	}
	hc := HealthCheck{Port: frag.HealthCheckNodePort, LocalEndpoints: frag.LocalReadyEndpoints}
	if !had || old != hc {
		d.health[name] = hc
		d.healthDirty = true
	}
}

func (d *desiredIndex) claim(k model.VSKey, name types.NamespacedName) {
	c := append(d.claims[k], name)
	slices.SortFunc(c, d.compareClaimants)
	d.claims[k] = c
}

func (d *desiredIndex) unclaim(k model.VSKey, name types.NamespacedName) {
	c := slices.DeleteFunc(d.claims[k], func(n types.NamespacedName) bool { return n == name })
	if len(c) == 0 {
		delete(d.claims, k)
		return
	}
	d.claims[k] = c
}

// compareClaimants orders claimants as proxier.Assemble does: older first,
// then by namespace/name.
func (d *desiredIndex) compareClaimants(a, b types.NamespacedName) int {
	fa, fb := d.frags[a], d.frags[b]
	if fa != nil && fb != nil {
		if c := fa.Created.Compare(fb.Created); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}

// refreshWinner points vs[k] at the winning claimant's virtual server.
func (d *desiredIndex) refreshWinner(k model.VSKey) {
	c := d.claims[k]
	if len(c) == 0 {
		delete(d.vs, k)
		return
	}
	frag := d.frags[c[0]]
	i, ok := slices.BinarySearchFunc(frag.Services, k, func(s *model.Service, k model.VSKey) int {
		switch {
		case s.VSKey.Less(k):
			return -1
		case k.Less(s.VSKey):
			return 1
		}
		return 0
	})
	if !ok {
		delete(d.vs, k)
		return
	}
	d.vs[k] = frag.Services[i]
}

func (d *desiredIndex) addAddrs(addrs []netip.Addr, delta int) {
	for _, a := range addrs {
		if n := d.addrs[a] + delta; n > 0 {
			d.addrs[a] = n
		} else {
			delete(d.addrs, a)
		}
	}
}

func (d *desiredIndex) addNetfilter(f *proxier.ServiceState, delta int) {
	if len(f.Ports) == 0 && len(f.NodePorts) == 0 && len(f.Hairpin) == 0 {
		return
	}
	d.nfDirty = true
	for _, p := range f.Ports {
		k := f.Name.String() + " " + portID(p)
		c := d.ports[k]
		c.v, c.owner, c.refs = p, f.Name, c.refs+delta
		if c.refs > 0 {
			d.ports[k] = c
		} else {
			delete(d.ports, k)
		}
	}
	addRefs(d.nports, f.NodePorts, delta)
	addRefs(d.hair, f.Hairpin, delta)
}

func addRefs[K comparable](m map[K]int, keys []K, delta int) {
	for _, k := range keys {
		if n := m[k] + delta; n > 0 {
			m[k] = n
		} else {
			delete(m, k)
		}
	}
}

// portID identifies a service port with all its attributes (its dump
// line, which names every field).
func portID(p model.ServicePort) string { return p.String() }

// netfilter returns the complete netfilter intent, less the ports whose
// virtual server belongs to another program (foreign): their traffic is
// that program's, and our netfilter records what we serve (see Owner). It
// costs O(entries); the engine calls it only when nfDirty is set.
func (d *desiredIndex) netfilter(cfg *proxier.Config, foreign func(model.VSKey) bool) model.Netfilter {
	n := model.Netfilter{MasqueradeAll: cfg.MasqueradeAll, LocalCIDRs: slices.Clone(cfg.LocalCIDRs)}
	for _, c := range d.ports {
		// A port whose virtual server another service won is that service's.
		if cl := d.claims[c.v.VSKey]; len(cl) > 0 && cl[0] == c.owner && !foreign(c.v.VSKey) {
			n.Ports = append(n.Ports, c.v)
		}
	}
	for k := range d.nports {
		n.NodePorts = append(n.NodePorts, k)
	}
	for k := range d.hair {
		n.Hairpin = append(n.Hairpin, k)
	}
	n.Sort()
	d.nfDirty = false
	return n
}

// addresses returns the set of addresses to bind.
func (d *desiredIndex) addressSet() map[netip.Addr]struct{} {
	out := make(map[netip.Addr]struct{}, len(d.addrs))
	for a := range d.addrs {
		out[a] = struct{}{}
	}
	return out
}

// sameNetfilter reports whether two fragments contribute the same netfilter
// entries (fragments list them in a deterministic order).
func sameNetfilter(a, b *proxier.ServiceState) bool {
	return slices.Equal(a.NodePorts, b.NodePorts) && slices.Equal(a.Hairpin, b.Hairpin) &&
		slices.EqualFunc(a.Ports, b.Ports, model.ServicePort.Equal)
}
