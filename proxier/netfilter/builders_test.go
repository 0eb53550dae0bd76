package netfilter

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// makeIntent builds a sorted intent changed by the mutators.
func makeIntent(mutators ...func(*model.Netfilter)) *model.Netfilter {
	n := &model.Netfilter{}
	for _, m := range mutators {
		m(n)
	}
	n.Sort()
	return n
}

// withPort adds a service port given as "tcp 10.96.0.1:80".
func withPort(kind model.PortKind, key string, opts ...func(*model.ServicePort)) func(*model.Netfilter) {
	return func(n *model.Netfilter) {
		p := model.ServicePort{VSKey: vsKey(key), Kind: kind}
		for _, o := range opts {
			o(&p)
		}
		n.Ports = append(n.Ports, p)
	}
}

// withLocalInterface tells local traffic by input interface: a name, or
// a prefix when it ends in "*", with the mark bit mark (0: none given).
func withLocalInterface(name string, mark uint32) func(*model.Netfilter) {
	return func(n *model.Netfilter) {
		prefix, isPrefix := strings.CutSuffix(name, "*")
		n.LocalInterface = model.LocalInterface{Name: prefix, Prefix: isPrefix}
		n.MasqueradeMark = mark
	}
}

func local() func(*model.ServicePort) { return func(p *model.ServicePort) { p.Local = true } }

// noLocal marks a Local port served by other nodes' endpoints.
func noLocal() func(*model.ServicePort) {
	return func(p *model.ServicePort) { p.NoLocalEndpoints = true }
}

// host marks a port whose address belongs to the host.
func host() func(*model.ServicePort) { return func(p *model.ServicePort) { p.Host = true } }

func ranges(prefixes ...string) func(*model.ServicePort) {
	return func(p *model.ServicePort) {
		for _, s := range prefixes {
			p.SourceRanges = append(p.SourceRanges, netip.MustParsePrefix(s))
		}
	}
}

func withNodePort(proto model.Protocol, port uint16, isLocal bool) func(*model.Netfilter) {
	return func(n *model.Netfilter) {
		n.NodePorts = append(n.NodePorts, model.NodePort{Proto: proto, Port: port, Local: isLocal})
	}
}

// withHairpin adds a local endpoint given as "tcp 10.244.0.5:8080".
func withHairpin(key string) func(*model.Netfilter) {
	return func(n *model.Netfilter) {
		k := vsKey(key)
		n.Hairpin = append(n.Hairpin, model.Endpoint{Addr: k.Addr, Port: k.Port, Proto: k.Proto})
	}
}

func withLocalCIDRs(prefixes ...string) func(*model.Netfilter) {
	return func(n *model.Netfilter) {
		for _, s := range prefixes {
			n.LocalCIDRs = append(n.LocalCIDRs, netip.MustParsePrefix(s))
		}
	}
}

func masqueradeAll(n *model.Netfilter) { n.MasqueradeAll = true }

func vsKey(s string) model.VSKey {
	proto, ap, ok := strings.Cut(s, " ")
	if !ok {
		panic("key needs a protocol: " + s)
	}
	p, err := model.ParseProtocol(proto)
	if err != nil {
		panic(err)
	}
	a := netip.MustParseAddrPort(ap)
	return model.VSKey{Addr: a.Addr(), Port: a.Port(), Proto: p}
}

// checkGolden compares got with testdata/<test name>.golden, rewriting it
// with -update.
func checkGolden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(t.Name())+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("Reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}
