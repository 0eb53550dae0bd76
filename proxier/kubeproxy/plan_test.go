package kubeproxy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// makeTable builds a table from lines "CHAIN" (a chain) and "FROM -> TO"
// (a jump, creating both chains); built-in names make built-in chains.
func makeTable(b Backend, name string, lines ...string) table {
	t := table{backend: b, family: IPv4, name: name}
	seen := map[string]bool{}
	add := func(c string) {
		if !seen[c] {
			seen[c] = true
			t.chains = append(t.chains, chainInfo{name: c, base: strings.ToUpper(c) == c && !strings.Contains(c, "-")})
		}
	}
	pos := map[string]int{}
	for i, l := range lines {
		from, to, isJump := strings.Cut(l, " -> ")
		add(from)
		if isJump {
			add(to)
			pos[from]++
			t.jumps = append(t.jumps, jump{chain: from, target: to, handle: uint64(i + 1), pos: pos[from]})
		}
	}
	return t
}

func TestPlanTable(t *testing.T) {
	type want struct {
		Rules  []string // "CHAIN -> TARGET"
		Chains []string
		Kept   []string
	}
	for _, tc := range []struct {
		name  string
		table table
		want  want
	}{{
		name: "kube-proxy's nat layout goes whole",
		table: makeTable(NFT, "nat",
			"PREROUTING -> KUBE-SERVICES", "OUTPUT -> KUBE-SERVICES", "POSTROUTING -> KUBE-POSTROUTING",
			"KUBE-SERVICES -> KUBE-LOAD-BALANCER", "KUBE-SERVICES -> KUBE-NODE-PORT",
			"KUBE-LOAD-BALANCER -> KUBE-MARK-MASQ", "KUBE-NODE-PORT -> KUBE-MARK-MASQ"),
		want: want{
			Rules:  []string{"PREROUTING -> KUBE-SERVICES", "OUTPUT -> KUBE-SERVICES", "POSTROUTING -> KUBE-POSTROUTING"},
			Chains: []string{"KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ"},
		},
	}, {
		name: "kubelet's and others' KUBE-* chains stay",
		table: makeTable(NFT, "filter",
			"INPUT -> KUBE-FIREWALL", "OUTPUT -> KUBE-FIREWALL", "KUBE-KUBELET-CANARY",
			"INPUT -> KUBE-IPVS-FILTER", "FORWARD -> KUBE-FORWARD", "FORWARD -> KUBE-ROUTER-FORWARD",
			"INPUT -> KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES"),
		want: want{
			Rules:  []string{"INPUT -> KUBE-IPVS-FILTER", "FORWARD -> KUBE-FORWARD"},
			Chains: []string{"KUBE-FORWARD", "KUBE-IPVS-FILTER"},
		},
	}, {
		name: "a chain a foreign chain jumps to stays, with what it reaches",
		table: makeTable(NFT, "nat",
			"PREROUTING -> KUBE-SERVICES", "PREROUTING -> CNI-HOSTPORT-DNAT",
			"CNI-HOSTPORT-DNAT -> KUBE-LOAD-BALANCER", "KUBE-LOAD-BALANCER -> KUBE-MARK-MASQ",
			"KUBE-SERVICES -> KUBE-LOAD-BALANCER", "KUBE-SERVICES -> KUBE-NODE-PORT"),
		want: want{
			Rules:  []string{"PREROUTING -> KUBE-SERVICES"},
			Chains: []string{"KUBE-SERVICES", "KUBE-NODE-PORT"},
			Kept: []string{
				"ip nat chain KUBE-LOAD-BALANCER: chain CNI-HOSTPORT-DNAT jumps to it",
				"ip nat chain KUBE-MARK-MASQ: kept chain KUBE-LOAD-BALANCER jumps to it",
			},
		},
	}, {
		name:  "a nat chain name in the filter table is not kube-proxy's",
		table: makeTable(NFT, "filter", "OUTPUT -> KUBE-SERVICES", "KUBE-MARK-MASQ"),
		want:  want{},
	}, {
		name:  "no chains",
		table: makeTable(NFT, "nat", "PREROUTING", "OUTPUT"),
		want:  want{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := planTable(tc.table)
			var got want
			for _, j := range p.rules {
				got.Rules = append(got.Rules, j.chain+" -> "+j.target)
			}
			got.Chains = p.chains
			for _, k := range p.kept {
				got.Kept = append(got.Kept, k.Object.String()+": "+k.Reason)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLegacyCommands(t *testing.T) {
	tbl := makeTable(Legacy, "filter",
		"INPUT -> KUBE-FIREWALL", "INPUT -> KUBE-IPVS-FILTER", "INPUT -> KUBE-PROXY-FIREWALL",
		"FORWARD -> KUBE-PROXY-FIREWALL", "KUBE-PROXY-FIREWALL -> KUBE-SOURCE-RANGES-FIREWALL")
	tbl.family = IPv6
	tbl.jumps[1].spec = `-m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER`
	got := tbl.legacy(planTable(tbl))
	want := Report{
		Left: []Leftover{
			{Object{KindRule, Legacy, IPv6, "filter", "INPUT", "KUBE-IPVS-FILTER"}, legacyReason},
			{Object{KindRule, Legacy, IPv6, "filter", "INPUT", "KUBE-PROXY-FIREWALL"}, legacyReason},
			{Object{KindRule, Legacy, IPv6, "filter", "FORWARD", "KUBE-PROXY-FIREWALL"}, legacyReason},
			{Object{KindChain, Legacy, IPv6, "filter", "", "KUBE-PROXY-FIREWALL"}, legacyReason},
			{Object{KindChain, Legacy, IPv6, "filter", "", "KUBE-SOURCE-RANGES-FIREWALL"}, legacyReason},
			{Object{KindChain, Legacy, IPv6, "filter", "", "KUBE-IPVS-FILTER"}, legacyReason},
		},
		Commands: []string{
			"ip6tables-legacy -t filter -D FORWARD 1",
			"ip6tables-legacy -t filter -D INPUT 3",
			`ip6tables-legacy -t filter -D INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER`,
			"ip6tables-legacy -t filter -F KUBE-PROXY-FIREWALL",
			"ip6tables-legacy -t filter -F KUBE-SOURCE-RANGES-FIREWALL",
			"ip6tables-legacy -t filter -F KUBE-IPVS-FILTER",
			"ip6tables-legacy -t filter -X KUBE-PROXY-FIREWALL",
			"ip6tables-legacy -t filter -X KUBE-SOURCE-RANGES-FIREWALL",
			"ip6tables-legacy -t filter -X KUBE-IPVS-FILTER",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("legacy report (-want +got):\n%s", diff)
	}
}

func TestSetNames(t *testing.T) {
	names := SetNames()
	if len(names) != 34 {
		t.Fatalf("%d names, want 34", len(names))
	}
	for _, want := range []string{"KUBE-CLUSTER-IP", "KUBE-6-CLUSTER-IP", "KUBE-6-LOAD-BALANCER-SOURCE-CID", "KUBE-6-NODE-PORT-LOCAL-SCTP-HAS"} {
		if !strings.Contains(strings.Join(names, " ")+" ", want+" ") {
			t.Errorf("no set %s in %v", want, names)
		}
	}
	for _, n := range names {
		if len(n) > ipsetNameMax {
			t.Errorf("%s is longer than %d", n, ipsetNameMax)
		}
	}
}
