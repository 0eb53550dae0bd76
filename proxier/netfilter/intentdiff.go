package netfilter

import (
	"cmp"
	"slices"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Diff returns the element diff between the programs of two intents,
// Translate(old) and Translate(new), as DiffElements does, with the same
// second result: false when only a full replace is correct.
//
// It does not translate whole intents when it need not. Given the intent's
// settings (MasqueradeAll, LocalCIDRs, the local interface and its mark)
// and address families, every set element comes from one group of entries: service-ports, masq-ports, cluster-ports and
// the firewall sets from the ports of one address, port and protocol;
// node-ports from the node ports of one protocol and port; hairpin from
// one endpoint; service-ips from all the ports of one address. When the
// settings and families are the same in old and new, only the groups that differ are
// translated, as they were and as they become, and their programs diffed:
// the cost is a walk over both intents plus the translation of the
// changes, instead of two translations of 100,000 elements for one
// service. When the settings or the families differ, both intents are
// translated whole (and the rules differ when the local detection does, so
// the result asks for a full replace).
//
// changed, when not nil, promises that old and new differ only in the
// groups it names (model.NetfilterGroups): with the same settings and
// families, only those groups are looked at, found by binary search, and
// the cost no longer grows with the size of the intents.
func Diff(old, new *model.Netfilter, changed *model.NetfilterGroups, tableName string) (*ElementDiff, bool) {
	old, new = groupable(old), groupable(new)
	fams := familiesOf(new)
	if old.MasqueradeAll != new.MasqueradeAll || !slices.Equal(old.LocalCIDRs, new.LocalCIDRs) ||
		detectionOf(old) != detectionOf(new) ||
		!slices.EqualFunc(familiesOf(old), fams, func(a, b family) bool { return a.table == b.table }) {
		return DiffElements(Translate(old, tableName), Translate(new, tableName))
	}
	if changed != nil {
		o, n := old.Groups(changed), new.Groups(changed)
		old, new = &o, &n
	}
	was, becomes := settingsOf(old), settingsOf(new)
	was.Ports, becomes.Ports = changedPorts(old.Ports, new.Ports)
	was.NodePorts, becomes.NodePorts = changedGroups(old.NodePorts, new.NodePorts, model.CompareNodePortGroup, equalNodePort)
	was.Hairpin, becomes.Hairpin = changedGroups(old.Hairpin, new.Hairpin, model.CompareEndpoint, equalEndpoint)
	return DiffElements(translate(was, tableName, fams), translate(becomes, tableName, fams))
}

// settingsOf returns an intent with n's settings (what is not a list of
// entries) and no entries.
func settingsOf(n *model.Netfilter) *model.Netfilter {
	return &model.Netfilter{MasqueradeAll: n.MasqueradeAll, LocalCIDRs: n.LocalCIDRs,
		LocalInterface: n.LocalInterface, MasqueradeMark: n.MasqueradeMark}
}

// changedPorts returns the ports of the (address, port, protocol) groups
// that differ, as they were and as they become. An address's service-ips
// element stands for all its ports: when some of its groups change and
// another, unchanged, puts the address in service-ips, one port of that
// group goes into both results, so that both translations keep the
// address (and nothing else of that port differs between them). Without
// such a port, every port that puts the address in service-ips is in a
// changed group already.
func changedPorts(old, new []model.ServicePort) (was, becomes []model.ServicePort) {
	walkRuns(old, new, model.ComparePortGroup, func(o, n []model.ServicePort) {
		if slices.EqualFunc(o, n, equalServicePort) {
			return
		}
		var witness []model.ServicePort
		walkRuns(o, n, compareVSKey, func(o, n []model.ServicePort) {
			switch {
			case !slices.EqualFunc(o, n, equalServicePort):
				was = append(was, o...)
				becomes = append(becomes, n...)
			case witness == nil:
				if i := slices.IndexFunc(o, inServiceIPs); i >= 0 {
					witness = o[i : i+1]
				}
			}
		})
		was = append(was, witness...)
		becomes = append(becomes, witness...)
	})
	return was, becomes
}

// changedGroups returns the runs of entries with one group key that differ
// between two lists sorted by that key, as they were and as they become.
// Runs that differ only in order or duplicates are returned too: they
// translate to the same elements, so the diff stays right.
func changedGroups[T any](old, new []T, key func(a, b T) int, equal func(a, b T) bool) (was, becomes []T) {
	walkRuns(old, new, key, func(o, n []T) {
		if !slices.EqualFunc(o, n, equal) {
			was = append(was, o...)
			becomes = append(becomes, n...)
		}
	})
	return was, becomes
}

// walkRuns walks two lists sorted by key and calls fn, in key order, with
// the run of entries of each key in old and in new (one may be empty).
func walkRuns[T any](old, new []T, key func(a, b T) int, fn func(o, n []T)) {
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		var k T
		if j == len(new) || i < len(old) && key(old[i], new[j]) <= 0 {
			k = old[i]
		} else {
			k = new[j]
		}
		i2, j2 := runEnd(old, i, k, key), runEnd(new, j, k, key)
		fn(old[i:i2], new[j:j2])
		i, j = i2, j2
	}
}

// runEnd returns the end of the run of entries from i whose key is k's.
func runEnd[T any](list []T, i int, k T, key func(a, b T) int) int {
	for i < len(list) && key(list[i], k) == 0 {
		i++
	}
	return i
}

// groupable returns the intent itself when its lists are ordered by group
// key (a sorted intent always is), else a sorted copy.
func groupable(n *model.Netfilter) *model.Netfilter {
	if slices.IsSortedFunc(n.Ports, model.ComparePortGroup) &&
		slices.IsSortedFunc(n.NodePorts, model.CompareNodePortGroup) &&
		slices.IsSortedFunc(n.Hairpin, model.CompareEndpoint) {
		return n
	}
	return sorted(n)
}

// compareVSKey orders ports by virtual server, within an address group.
func compareVSKey(a, b model.ServicePort) int {
	return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
}

// equalServicePort compares every field, so that a change of any of them
// (a port that loses its last local endpoint, say) makes its group change.
func equalServicePort(a, b model.ServicePort) bool { return a.Equal(b) }

func equalNodePort(a, b model.NodePort) bool { return a == b }

func equalEndpoint(a, b model.Endpoint) bool { return a == b }
