package proxier

import (
	"cmp"
	"iter"
	"maps"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Assembler merges per-service fragments into the node's desired state, one
// service at a time: Set replaces one service's fragment at the cost of that
// service's size, never of all services. It is the only place where the
// fragments meet, so its rules are the only copy of them: Build runs it over
// every service at once, `plan` and the tests through Build, and the
// reconcile engine keeps one across syncs and feeds it the services that
// changed. The state it holds is the same whatever the order of the Sets
// (the equivalence test checks it against Build).
//
// Rules: when two services claim the same virtual server, the older one
// (then the one first by namespace/name) keeps it and the other has a
// conflict problem for as long as it loses; a netfilter port belongs to the
// service that won its virtual server; addresses and netfilter entries
// shared by several services stay while one of them wants them.
type Assembler struct {
	frags    map[types.NamespacedName]*ServiceState
	problems map[types.NamespacedName][]Problem     // BuildService's, non-empty only
	claims   map[model.VSKey][]types.NamespacedName // sorted, winner first
	vs       map[model.VSKey]*model.Service         // the winners' virtual servers
	addrs    map[netip.Addr]int
	ports    map[netip.Addr]map[model.VSKey][]counted[model.ServicePort] // by address and key (assemble_netfilter.go)
	nports   map[model.NodePort]int
	hair     map[model.Endpoint]int
	health   map[types.NamespacedName]HealthCheck
	// noLocal counts the services of ServiceState.NoLocal, by family (0
	// IPv4, 1 IPv6) and policy (0 internal, 1 external).
	noLocal [2][2]int
	// nfGen and healthGen count the changes of the netfilter intent and of
	// the health checks, so that a caller redoes its work only after one;
	// nfDirty names the netfilter groups changed since the intent was last
	// taken (Netfilter, NetfilterChanges), unsorted.
	nfGen, healthGen uint64
	nfDirty          model.NetfilterGroups
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

// NewAssembler returns an empty assembler.
func NewAssembler() *Assembler {
	return &Assembler{
		frags:    map[types.NamespacedName]*ServiceState{},
		problems: map[types.NamespacedName][]Problem{},
		claims:   map[model.VSKey][]types.NamespacedName{},
		vs:       map[model.VSKey]*model.Service{},
		addrs:    map[netip.Addr]int{},
		ports:    map[netip.Addr]map[model.VSKey][]counted[model.ServicePort]{},
		nports:   map[model.NodePort]int{},
		hair:     map[model.Endpoint]int{},
		health:   map[types.NamespacedName]HealthCheck{},
	}
}

// Change is what one Set may have changed: the virtual servers and the
// addresses whose desired state to diff, and the services whose problems
// (Problems) may differ, the one set included.
type Change struct {
	Keys     []model.VSKey
	Addrs    []netip.Addr
	Services []types.NamespacedName
}

// Set replaces the fragment of one service and the problems BuildService
// found in it; a nil fragment and no problems forget the service.
func (a *Assembler) Set(name types.NamespacedName, frag *ServiceState, problems []Problem) Change {
	a.setProblems(name, problems)
	old := a.frags[name]
	ch := Change{Services: []types.NamespacedName{name}}
	if old == nil && frag == nil {
		return ch
	}
	// Most changes are endpoint changes that leave the netfilter intent
	// alone; skipping them keeps the netfilter program untouched.
	nfSame := old != nil && frag != nil && sameNetfilter(old, frag)
	before := map[model.VSKey]types.NamespacedName{} // winners before, of the keys touched
	if old != nil {
		for _, s := range old.Services {
			before[s.VSKey], _ = a.Owner(s.VSKey)
			a.unclaim(s.VSKey, name)
			ch.Keys = append(ch.Keys, s.VSKey)
		}
		ch.Addrs = append(ch.Addrs, old.Addresses...)
		addRefs(a.addrs, old.Addresses, -1)
		if !nfSame {
			a.addNetfilter(old, -1)
		}
		delete(a.frags, name)
	}
	if frag != nil {
		a.frags[name] = frag
		for _, s := range frag.Services {
			if _, seen := before[s.VSKey]; !seen {
				w, _ := a.Owner(s.VSKey)
				before[s.VSKey] = w
			}
			a.claim(s.VSKey, name)
			ch.Keys = append(ch.Keys, s.VSKey)
		}
		ch.Addrs = append(ch.Addrs, frag.Addresses...)
		addRefs(a.addrs, frag.Addresses, 1)
		if !nfSame {
			a.addNetfilter(frag, 1)
		}
	}
	for _, k := range ch.Keys {
		a.refreshWinner(k)
		// A new winner changes the conflict problems of every claimant:
		// the one that lost it, the one that won it, and the others, whose
		// problem names the winner. (A winner that no longer claims it is
		// the service set, listed already.)
		if w, _ := a.Owner(k); w != before[k] {
			ch.Services = append(ch.Services, a.claims[k]...)
			a.nfDirty.Addrs = append(a.nfDirty.Addrs, k.Addr) // its ports are the winner's
		}
	}
	a.setHealth(name, frag)
	a.countNoLocal(old, -1)
	a.countNoLocal(frag, 1)
	slices.SortFunc(ch.Services, compareNames)
	ch.Services = slices.Compact(ch.Services)
	return ch
}

func (a *Assembler) setProblems(name types.NamespacedName, problems []Problem) {
	if len(problems) == 0 {
		delete(a.problems, name)
		return
	}
	a.problems[name] = problems
}

// Problems returns every problem one service has now: those BuildService
// found, then a conflict for each virtual server another service won.
func (a *Assembler) Problems(name types.NamespacedName) []Problem {
	out := slices.Clone(a.problems[name])
	if frag := a.frags[name]; frag != nil {
		for _, s := range frag.Services {
			if w := a.claims[s.VSKey][0]; w != name {
				out = append(out, conflictProblem(name, w, s.VSKey))
			}
		}
	}
	return out
}

// Names returns the services that have a fragment, in no particular order.
func (a *Assembler) Names() iter.Seq[types.NamespacedName] { return maps.Keys(a.frags) }

// VirtualServer returns the desired virtual server k, nil when no service
// wants it.
func (a *Assembler) VirtualServer(k model.VSKey) *model.Service { return a.vs[k] }

// VirtualServers returns every desired virtual server. The map is the
// assembler's own: read it, never change it.
func (a *Assembler) VirtualServers() map[model.VSKey]*model.Service { return a.vs }

// Owner returns the service that won virtual server k.
func (a *Assembler) Owner(k model.VSKey) (types.NamespacedName, bool) {
	if c := a.claims[k]; len(c) > 0 {
		return c[0], true
	}
	return types.NamespacedName{}, false
}

// Bound reports whether address a is to be bound on the dummy interface.
func (a *Assembler) Bound(addr netip.Addr) bool { return a.addrs[addr] > 0 }

// AddressSeq yields the addresses to bind; the assembler must not change
// while it runs.
func (a *Assembler) AddressSeq() iter.Seq[netip.Addr] { return maps.Keys(a.addrs) }

// AddressCount is the number of addresses to bind.
func (a *Assembler) AddressCount() int { return len(a.addrs) }

// Addresses returns a new set of the addresses to bind.
func (a *Assembler) Addresses() map[netip.Addr]struct{} {
	out := make(map[netip.Addr]struct{}, len(a.addrs))
	for addr := range a.addrs {
		out[addr] = struct{}{}
	}
	return out
}

// HealthChecks returns a copy of the services' health checks and the
// generation it is at (see HealthGen).
func (a *Assembler) HealthChecks() map[types.NamespacedName]HealthCheck {
	return maps.Clone(a.health)
}

// HealthGen changes whenever HealthChecks would return something else.
func (a *Assembler) HealthGen() uint64 { return a.healthGen }

// NetfilterGen changes whenever Netfilter would return something else for
// the same foreign virtual servers.
func (a *Assembler) NetfilterGen() uint64 { return a.nfGen }

// State returns the whole desired state. It shares the virtual servers
// with the assembler.
func (a *Assembler) State(cfg *Config, node *Node) *model.State {
	out := model.NewState()
	maps.Copy(out.Services, a.vs)
	for addr := range a.addrs {
		out.Addresses[addr] = struct{}{}
	}
	out.Netfilter = a.Netfilter(cfg, node, nil)
	return out
}

// NoLocalEndpoints returns, per IP family (index 0 IPv4, 1 IPv6), how many
// services have an internal and an external node-local traffic policy
// without an endpoint on this node while the cluster has some (NoLocal).
func (a *Assembler) NoLocalEndpoints() (internal, external [2]int) {
	for f, n := range a.noLocal {
		internal[f], external[f] = n[0], n[1]
	}
	return internal, external
}

func (a *Assembler) countNoLocal(frag *ServiceState, delta int) {
	if frag == nil {
		return
	}
	for f, nl := range frag.NoLocal {
		if nl.Internal {
			a.noLocal[f][0] += delta
		}
		if nl.External {
			a.noLocal[f][1] += delta
		}
	}
}

func (a *Assembler) setHealth(name types.NamespacedName, frag *ServiceState) {
	old, had := a.health[name]
	if frag == nil || frag.HealthCheckNodePort == 0 {
		if had {
			delete(a.health, name)
			a.healthGen++
		}
		return
	}
	hc := HealthCheck{Port: frag.HealthCheckNodePort, LocalEndpoints: frag.LocalReadyEndpoints}
	if !had || old != hc {
		a.health[name] = hc
		a.healthGen++
	}
}

func (a *Assembler) claim(k model.VSKey, name types.NamespacedName) {
	c := append(a.claims[k], name)
	slices.SortFunc(c, a.compareClaimants)
	a.claims[k] = c
}

func (a *Assembler) unclaim(k model.VSKey, name types.NamespacedName) {
	c := slices.DeleteFunc(a.claims[k], func(n types.NamespacedName) bool { return n == name })
	if len(c) == 0 {
		delete(a.claims, k)
		return
	}
	a.claims[k] = c
}

// compareClaimants orders claimants: older first, then by namespace/name.
func (a *Assembler) compareClaimants(x, y types.NamespacedName) int {
	if c := a.frags[x].Created.Compare(a.frags[y].Created); c != 0 {
		return c
	}
	return compareNames(x, y)
}

func compareNames(x, y types.NamespacedName) int {
	if c := cmp.Compare(x.Namespace, y.Namespace); c != 0 {
		return c
	}
	return cmp.Compare(x.Name, y.Name)
}

// refreshWinner points vs[k] at the winning claimant's virtual server.
func (a *Assembler) refreshWinner(k model.VSKey) {
	c := a.claims[k]
	if len(c) == 0 {
		delete(a.vs, k)
		return
	}
	frag := a.frags[c[0]]
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
		delete(a.vs, k)
		return
	}
	a.vs[k] = frag.Services[i]
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

func conflictProblem(loser, winner types.NamespacedName, k model.VSKey) Problem {
	return Problem{Kind: "Service", Namespace: loser.Namespace, Name: loser.Name, Service: loser,
		Message: "virtual server " + k.String() + " is already claimed by service " + winner.String() + "; skipped"}
}
