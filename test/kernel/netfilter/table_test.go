//go:build vmtest

package netfilter_test

import (
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// newKernel returns an adapter programming a fresh namespace.
func newKernel(t *testing.T) (*netfilter.Kernel, *netNS) {
	t.Helper()
	ns := newNetNS(t, "node")
	return netfilter.New(netfilter.Config{NetNS: int(ns.Handle), IPv6: true}), ns
}

// dualStack is an intent using every set of both tables.
func dualStack() *model.Netfilter {
	n := &model.Netfilter{
		LocalCIDRs: []netip.Prefix{pfx("198.18.128.0/17"), pfx("fd00:18:80::/48")},
		Ports: []model.ServicePort{
			sp(model.KindClusterIP, "tcp 198.19.0.10:80"),
			sp(model.KindClusterIP, "udp 198.19.0.10:53"),
			sp(model.KindClusterIP, "sctp [fd00:19::10]:80"),
			sp(model.KindExternalIP, "tcp 198.19.1.1:80"),
			sp(model.KindExternalIP, "tcp 198.19.1.2:80", local),
			sp(model.KindLoadBalancer, "tcp 198.19.2.1:443", ranges("198.18.1.0/24", "198.18.0.0/16", "fd00:18:1::/64")),
			sp(model.KindLoadBalancer, "tcp [fd00:19:2::1]:443", ranges("fd00:18:1::/64", "fd00:18:2::/64"), local),
			sp(model.KindNodePort, "tcp 198.18.1.1:30080"),
			sp(model.KindNodePort, "udp [fd00:18:1::1]:30053", local),
		},
		NodePorts: []model.NodePort{{Proto: model.TCP, Port: 30080}, {Proto: model.UDP, Port: 30053, Local: true}},
		Hairpin: []model.Endpoint{
			{Addr: netip.MustParseAddr("198.18.128.5"), Port: 8080, Proto: model.TCP},
			{Addr: netip.MustParseAddr("fd00:18:80::5"), Port: 8080, Proto: model.TCP},
		},
	}
	n.Sort()
	return n
}

func TestApplyReadsBackAsTranslated(t *testing.T) {
	k, _ := newKernel(t)
	n := dualStack()
	if err := k.Apply(n); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	got, err := k.Read()
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	want := netfilter.Translate(n, netfilter.DefaultTableName)
	if diff := cmp.Diff(want.String(), got.String()); diff != "" {
		t.Errorf("kernel tables differ from the translation (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.ElementCount(), got.ElementCount()); diff != "" {
		t.Errorf("element counts (-want +got):\n%s", diff)
	}
	if err := k.Verify(n); err != nil {
		t.Errorf("Verify after Apply: %v", err)
	}
	t.Logf("Kernel tables:\n%s", got)
}

func TestReapplyReplacesEverything(t *testing.T) {
	k, _ := newKernel(t)
	first := dualStack()
	if err := k.Apply(first); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	second := &model.Netfilter{
		MasqueradeAll: true,
		Ports:         []model.ServicePort{sp(model.KindClusterIP, "tcp 198.19.0.99:8080")},
	}
	if err := k.Apply(second); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if err := k.Verify(second); err != nil {
		t.Errorf("Verify(second): %v", err)
	}
	err := k.Verify(first)
	if !errors.Is(err, netfilter.ErrDrift) {
		t.Errorf("Verify(first) after applying second = %v, want ErrDrift", err)
	}
	got, err := k.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Tables) != 1 || got.Tables[0].Family != nftables.TableFamilyIPv4 {
		t.Errorf("want only the ip table left (the intent has no IPv6), got:\n%s", got)
	}
}

func TestCleanupRemovesTables(t *testing.T) {
	k, ns := newKernel(t)
	if err := k.Cleanup(); err != nil {
		t.Fatalf("Cleanup with no tables: %v", err)
	}
	if err := k.Apply(dualStack()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := tableNames(t, ns); len(got) != 2 {
		t.Fatalf("tables after Apply = %v, want ip and ip6", got)
	}
	if err := k.Cleanup(); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got := tableNames(t, ns); len(got) != 0 {
		t.Errorf("tables after Cleanup = %v, want none", got)
	}
	if err := k.Cleanup(); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
	if err := k.Verify(&model.Netfilter{}); err != nil {
		t.Errorf("Verify(empty) after Cleanup: %v", err)
	}
	if err := k.Verify(dualStack()); !errors.Is(err, netfilter.ErrDrift) {
		t.Errorf("Verify(intent) after Cleanup = %v, want ErrDrift", err)
	}
}

func TestCleanupLeavesOtherTables(t *testing.T) {
	k, ns := newKernel(t)
	c := conn(t, ns)
	other := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "someone-else"})
	c.AddChain(&nftables.Chain{Name: "input", Table: other, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := k.Apply(dualStack()); err != nil {
		t.Fatal(err)
	}
	if err := k.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := tableNames(t, ns); !cmp.Equal(got, []string{"ip someone-else"}) {
		t.Errorf("tables after Cleanup = %v, want only ip someone-else", got)
	}
}

func TestEmptyIntentRemovesTables(t *testing.T) {
	k, ns := newKernel(t)
	if err := k.Apply(dualStack()); err != nil {
		t.Fatal(err)
	}
	if err := k.Apply(&model.Netfilter{}); err != nil {
		t.Fatalf("Apply(empty): %v", err)
	}
	if got := tableNames(t, ns); len(got) != 0 {
		t.Errorf("tables after Apply(empty) = %v, want none", got)
	}
}

func TestProbeLeavesNothing(t *testing.T) {
	k, ns := newKernel(t)
	if err := k.Probe(); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if got := tableNames(t, ns); len(got) != 0 {
		t.Errorf("tables after Probe = %v, want none", got)
	}
}

// TestVerifyDetectsDrift edits our table behind the adapter's back.
func TestVerifyDetectsDrift(t *testing.T) {
	k, ns := newKernel(t)
	n := dualStack()
	if err := k.Apply(n); err != nil {
		t.Fatal(err)
	}
	c := conn(t, ns)
	tbl := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: netfilter.DefaultTableName}
	set, err := c.GetSetByName(tbl, "service-ips")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetAddElements(set, []nftables.SetElement{{Key: []byte{198, 19, 9, 9}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	err = k.Verify(n)
	if !errors.Is(err, netfilter.ErrDrift) || !strings.Contains(err.Error(), "198.19.9.9") {
		t.Fatalf("Verify after adding an element = %v, want ErrDrift naming 198.19.9.9", err)
	}
	if err := k.Apply(n); err != nil {
		t.Fatal(err)
	}
	if err := k.Verify(n); err != nil {
		t.Errorf("Verify after re-Apply: %v", err)
	}
}

// TestFailedApplyChangesNothing submits a program the kernel refuses (a
// rule looking up a set that does not exist, placed after everything else)
// and checks the previous tables survive whole.
func TestFailedApplyChangesNothing(t *testing.T) {
	k, _ := newKernel(t)
	n := dualStack()
	if err := k.Apply(n); err != nil {
		t.Fatal(err)
	}
	bad := netfilter.Translate(&model.Netfilter{
		Ports: []model.ServicePort{sp(model.KindClusterIP, "tcp 198.19.7.7:80")},
	}, netfilter.DefaultTableName)
	chains := bad.Tables[0].Chains
	last := &chains[len(chains)-1]
	last.Rules = append(last.Rules, netfilter.Rule{Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 8},
		&expr.Lookup{SourceRegister: 8, SetName: "no-such-set"},
	}})
	if err := k.ApplyProgram(bad); err == nil {
		t.Fatal("ApplyProgram with a lookup of a missing set succeeded, want the kernel to refuse it")
	} else {
		t.Logf("Kernel refused the batch as expected: %v", err)
	}
	if err := k.Verify(n); err != nil {
		t.Errorf("Verify(previous intent) after the failed batch: %v", err)
	}
}

// TestLargeIntent applies thousands of services in one batch (more than
// one netlink attribute and the default socket buffer hold) and prints how
// long it takes. NETFILTER_LARGE=50000 adds a larger size (slow under TCG).
func TestLargeIntent(t *testing.T) {
	k, _ := newKernel(t)
	sizes := []int{1000, 10000}
	if n, err := strconv.Atoi(os.Getenv("NETFILTER_LARGE")); err == nil {
		sizes = append(sizes, n)
	}
	for _, services := range sizes {
		n := manyServices(services)
		p := netfilter.Translate(n, netfilter.DefaultTableName)
		start := time.Now()
		if err := k.Apply(n); err != nil {
			t.Fatalf("Apply(%d services): %v", services, err)
		}
		applied := time.Since(start)
		start = time.Now()
		if err := k.Verify(n); err != nil {
			t.Fatalf("Verify(%d services): %v", services, err)
		}
		verified := time.Since(start)
		total := 0
		for _, c := range p.ElementCount() {
			total += c
		}
		t.Logf("services=%d: %d rules, %d set elements: Apply %s, Verify (read back) %s",
			services, p.RuleCount(), total, applied.Round(time.Millisecond), verified.Round(time.Millisecond))
	}
}

// manyServices is n LoadBalancer services, each with a cluster IP, an
// external IP, a load-balancer IP with source ranges, a node port and a
// local endpoint.
func manyServices(n int) *model.Netfilter {
	nf := &model.Netfilter{LocalCIDRs: []netip.Prefix{pfx("198.18.128.0/17")}}
	for i := range n {
		hi, lo := byte(i>>8), byte(i)
		nodePort := uint16(30000 + i%2768)
		nf.Ports = append(nf.Ports,
			model.ServicePort{VSKey: key(netip.AddrFrom4([4]byte{198, 19, hi, lo}), 80), Kind: model.KindClusterIP},
			model.ServicePort{VSKey: key(netip.AddrFrom4([4]byte{198, 19, hi, lo}), 81), Kind: model.KindExternalIP},
			model.ServicePort{VSKey: key(netip.AddrFrom4([4]byte{198, 19, hi, lo}), 443), Kind: model.KindLoadBalancer,
				SourceRanges: []netip.Prefix{pfx("198.18.0.0/24"), pfx("198.18.2.0/24")}},
			model.ServicePort{VSKey: key(netip.MustParseAddr("198.18.0.1"), nodePort), Kind: model.KindNodePort},
		)
		nf.NodePorts = append(nf.NodePorts, model.NodePort{Proto: model.TCP, Port: nodePort})
		nf.Hairpin = append(nf.Hairpin, model.Endpoint{Addr: netip.AddrFrom4([4]byte{198, 18, 128 | hi&0x7f, lo}), Port: 8080, Proto: model.TCP})
	}
	nf.Sort()
	return nf
}

func key(a netip.Addr, port uint16) model.VSKey {
	return model.VSKey{Addr: a, Port: port, Proto: model.TCP}
}

// conn is a raw nftables connection into the namespace, to look at or
// tamper with the tables without the adapter.
func conn(t *testing.T, ns *netNS) *nftables.Conn {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns.Handle)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tableNames lists every table of the namespace as "family name".
func tableNames(t *testing.T, ns *netNS) []string {
	t.Helper()
	tables, err := conn(t, ns).ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tb := range tables {
		fam := map[nftables.TableFamily]string{nftables.TableFamilyIPv4: "ip", nftables.TableFamilyIPv6: "ip6", nftables.TableFamilyINet: "inet"}[tb.Family]
		out = append(out, fam+" "+tb.Name)
	}
	return out
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// sp builds a service port from "tcp 198.19.0.10:80".
func sp(kind model.PortKind, s string, opts ...func(*model.ServicePort)) model.ServicePort {
	proto, ap, _ := strings.Cut(s, " ")
	p, err := model.ParseProtocol(proto)
	if err != nil {
		panic(err)
	}
	a := netip.MustParseAddrPort(ap)
	port := model.ServicePort{VSKey: model.VSKey{Addr: a.Addr(), Port: a.Port(), Proto: p}, Kind: kind}
	for _, o := range opts {
		o(&port)
	}
	return port
}

func local(p *model.ServicePort) { p.Local = true }

func ranges(prefixes ...string) func(*model.ServicePort) {
	return func(p *model.ServicePort) {
		for _, s := range prefixes {
			p.SourceRanges = append(p.SourceRanges, pfx(s))
		}
	}
}

// TestGenerationCountsEveryCommit: the nf_tables generation stays put while
// nothing is committed and changes with every transaction in the
// namespace, ours or another program's (the engine skips read-backs on it).
func TestGenerationCountsEveryCommit(t *testing.T) {
	k, ns := newKernel(t)
	gen := func() uint32 {
		t.Helper()
		g, err := k.Generation()
		if err != nil {
			t.Fatalf("Generation: %v", err)
		}
		return g
	}
	g0 := gen()
	if err := k.Verify(&model.Netfilter{}); err != nil {
		t.Fatalf("Verify(empty): %v", err)
	}
	if g := gen(); g != g0 {
		t.Errorf("generation %d -> %d without a commit", g0, g)
	}
	if err := k.Apply(dualStack()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	g1 := gen()
	if g1 == g0 {
		t.Errorf("generation stayed %d after our Apply", g1)
	}
	other := netfilter.New(netfilter.Config{NetNS: int(ns.Handle), TableName: "someone-else"})
	if err := other.Apply(&model.Netfilter{Ports: []model.ServicePort{sp(model.KindClusterIP, "tcp 198.19.0.99:80")}}); err != nil {
		t.Fatalf("another program's Apply: %v", err)
	}
	if g := gen(); g == g1 {
		t.Errorf("generation stayed %d after another program's transaction", g)
	}
	t.Logf("Generations: %d at start, %d after our Apply, then changed by another table's transaction", g0, g1)
}
