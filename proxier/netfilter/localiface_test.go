package netfilter

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestLocalInterfaceFlows follows connections through prerouting or
// output, IPVS NAT and postrouting, for kube-proxy's BridgeInterface and
// InterfaceNamePrefix detectors (pkg/proxy/util/localdetector.go), as its
// IPVS mode applies them (pkg/proxy/ipvs/proxier.go, writeIptablesRules):
// a connection to a cluster IP that did not come in through the bridge (or
// an interface with the prefix), the node's own included, is marked and
// masqueraded; external addresses keep their own rules; the mark is
// cleared when the packet leaves postrouting.
func TestLocalInterfaceFlows(t *testing.T) {
	const mark = 1 << 14
	bridge := withLocalInterface("cni0", mark)
	prefix := withLocalInterface("cali*", mark)
	intent := func(detect func(*model.Netfilter), more ...func(*model.Netfilter)) *model.Netfilter {
		return makeIntent(append([]func(*model.Netfilter){detect,
			withPort(model.KindClusterIP, "tcp 10.96.0.10:53"),
			withPort(model.KindClusterIP, "tcp [fd00:96::10]:53"),
			withPort(model.KindExternalIP, "tcp 198.18.5.5:80"),
			withPort(model.KindExternalIP, "tcp 198.18.5.6:80", local(), noLocal()),
		}, more...)...)
	}
	from := func(iif string) func(*packet) { return func(p *packet) { p.iif = iif } }
	tests := []struct {
		name     string
		intent   *model.Netfilter
		packet   packet
		endpoint string
		want     string
	}{
		{"bridge: pod through the bridge", intent(bridge), pkt(prerouting, "10.244.1.5", "10.96.0.10:53", from("cni0")), "10.244.2.7:53", outAccept},
		{"bridge: pod through the bridge, IPv6", intent(bridge), pkt(prerouting, "fd00:10:244:1::5", "[fd00:96::10]:53", from("cni0")), "[fd00:10:244:2::7]:53", outAccept},
		{"bridge: from the uplink", intent(bridge), pkt(prerouting, "198.18.2.2", "10.96.0.10:53", from("eth0")), "10.244.2.7:53", outMasquerade},
		{"bridge: from the uplink, pod address spoofed", intent(bridge), pkt(prerouting, "10.244.1.5", "10.96.0.10:53", from("eth0")), "10.244.2.7:53", outMasquerade},
		{"bridge: another bridge whose name starts with it", intent(bridge), pkt(prerouting, "10.244.1.5", "10.96.0.10:53", from("cni01")), "10.244.2.7:53", outMasquerade},
		{"bridge: from the node", intent(bridge), pkt(output, "198.18.0.2", "10.96.0.10:53"), "10.244.2.7:53", outMasquerade},
		{"bridge: from the node, IPv6", intent(bridge), pkt(output, "fd00::2", "[fd00:96::10]:53"), "[fd00:10:244:2::7]:53", outMasquerade},
		{"prefix: pod interface", intent(prefix), pkt(prerouting, "10.244.1.5", "10.96.0.10:53", from("cali12ab")), "10.244.2.7:53", outAccept},
		{"prefix: the prefix alone", intent(prefix), pkt(prerouting, "10.244.1.5", "10.96.0.10:53", from("cali")), "10.244.2.7:53", outAccept},
		{"prefix: from the uplink", intent(prefix), pkt(prerouting, "198.18.2.2", "10.96.0.10:53", from("eth0")), "10.244.2.7:53", outMasquerade},
		{"prefix: name shorter than the prefix", intent(prefix), pkt(prerouting, "198.18.2.2", "10.96.0.10:53", from("cal")), "10.244.2.7:53", outMasquerade},
		{"prefix: from the node", intent(prefix), pkt(output, "198.18.0.2", "10.96.0.10:53"), "10.244.2.7:53", outMasquerade},
		// Only cluster IPs are classified, as in kube-proxy's IPVS mode:
		// external addresses follow externalTrafficPolicy.
		{"external IP from a pod: masqueraded (Cluster policy)", intent(bridge), pkt(prerouting, "10.244.1.5", "198.18.5.5:80", from("cni0")), "10.244.2.7:80", outMasquerade},
		{"masquerade-all: pod through the bridge", intent(bridge, masqueradeAll), pkt(prerouting, "10.244.1.5", "10.96.0.10:53", from("cni0")), "10.244.2.7:53", outMasquerade},
		{"hairpin through the bridge", intent(bridge, withHairpin("tcp 10.244.1.5:53")), pkt(prerouting, "10.244.1.5", "10.96.0.10:53", from("cni0")), "10.244.1.5:53", outMasquerade},
		// Local ports without a local endpoint drop what is not local.
		{"no local endpoint: from the uplink dropped", intent(bridge), pkt(prerouting, "198.18.2.2", "198.18.5.6:80", from("eth0")), "10.244.2.7:80", outDrop},
		{"no local endpoint: pod through the bridge forwarded", intent(bridge), pkt(prerouting, "10.244.1.5", "198.18.5.6:80", from("cni0")), "10.244.2.7:80", outAccept},
		{"no local endpoint: pod interface forwarded", intent(prefix), pkt(prerouting, "10.244.1.5", "198.18.5.6:80", from("cali12ab")), "10.244.2.7:80", outAccept},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			program := Translate(tc.intent, DefaultTableName)
			got, leftMark := connect(program, tc.packet, tc.endpoint)
			if got != tc.want {
				t.Errorf("%s -> %s:%d from %q: %s, want %s", tc.packet.saddr, tc.packet.daddr, tc.packet.dport, tc.packet.iif, got, tc.want)
			}
			if leftMark&mark != 0 {
				t.Errorf("the packet leaves with mark %#x: the masquerade bit must be cleared", leftMark)
			}
		})
	}
}

// TestLocalInterfaceMark checks that the configured bit is the one set and
// cleared, and that other bits of the mark (other software's) survive.
func TestLocalInterfaceMark(t *testing.T) {
	for _, bit := range []uint{0, 3, 14, 31} {
		t.Run(fmt.Sprint(bit), func(t *testing.T) {
			mark := uint32(1) << bit
			n := makeIntent(withLocalInterface("cni0", mark), withPort(model.KindClusterIP, "tcp 10.96.0.10:53"))
			program := Translate(n, DefaultTableName)
			p := pkt(prerouting, "198.18.2.2", "10.96.0.10:53")
			p.iif, p.mark = "eth0", 0x00ff0000&^mark
			out, set := evaluateMark(program, p)
			if out != outAccept || set != p.mark|mark {
				t.Fatalf("prerouting: %s with mark %#x, want accept with %#x", out, set, p.mark|mark)
			}
			got, left := connect(program, p, "10.244.2.7:53")
			if got != outMasquerade || left != p.mark {
				t.Errorf("postrouting: %s, mark %#x, want masquerade with mark %#x", got, left, p.mark)
			}
			// A packet that another program marked with the bit, to a
			// port that is not ours, is masqueraded and cleared too, as
			// kube-proxy's KUBE-POSTROUTING does for its bit.
			p = pkt(postrouting, "198.18.2.2", "198.18.9.9:80")
			p.mark = mark
			if got, left := evaluateMark(program, p); got != outMasquerade || left != 0 {
				t.Errorf("marked elsewhere: %s, mark %#x, want masquerade with mark 0", got, left)
			}
		})
	}
}

// TestLocalInterfaceDiff checks that changing the local interface, the
// mark or the detection mode replaces the tables (the rules differ), while
// adding a service with them unchanged is an element diff.
func TestLocalInterfaceDiff(t *testing.T) {
	svc := withPort(model.KindClusterIP, "tcp 10.96.0.10:53")
	base := makeIntent(withLocalInterface("cni0", 1<<14), svc)
	tests := []struct {
		name        string
		new         *model.Netfilter
		wantElement bool
	}{
		{"service added", makeIntent(withLocalInterface("cni0", 1<<14), svc, withPort(model.KindClusterIP, "tcp 10.96.0.11:53")), true},
		{"bridge renamed", makeIntent(withLocalInterface("br0", 1<<14), svc), false},
		{"name becomes a prefix", makeIntent(withLocalInterface("cni0*", 1<<14), svc), false},
		{"mark bit changed", makeIntent(withLocalInterface("cni0", 1<<3), svc), false},
		{"back to local CIDRs", makeIntent(withLocalCIDRs("10.244.0.0/16"), svc), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := Diff(base, tc.new, nil, DefaultTableName)
			if ok != tc.wantElement {
				t.Fatalf("Diff: element diff possible = %v, want %v", ok, tc.wantElement)
			}
			if ok && d.String() != "+ ip ipvs-proxy service-ips: 10.96.0.11\n+ ip ipvs-proxy service-ports: 10.96.0.11 . tcp . 53\n+ ip ipvs-proxy cluster-ports: 10.96.0.11 . tcp . 53\n" {
				t.Errorf("Diff:\n%s", d)
			}
			if !tc.wantElement {
				// The full diff agrees: the programs' rules differ.
				if _, ok := DiffElements(Translate(base, DefaultTableName), Translate(tc.new, DefaultTableName)); ok {
					t.Errorf("DiffElements found only element changes")
				}
			}
		})
	}
}

// TestFakeLocalInterface checks that the fake keeps, dumps and verifies
// the local interface and the mark as the kernel's tables would.
func TestFakeLocalInterface(t *testing.T) {
	f := NewFake()
	n := makeIntent(withLocalInterface("cali*", 1<<14), withPort(model.KindClusterIP, "tcp 10.96.0.10:53"))
	if err := f.Apply(n); err != nil {
		t.Fatal(err)
	}
	want := "masquerade-all false\nlocal-interface cali*\nmasquerade-mark 0x4000\nport cluster-ip tcp 10.96.0.10:53\n"
	if got := f.Dump(); got != want {
		t.Errorf("Dump:\n%s\nwant:\n%s", got, want)
	}
	for _, other := range []*model.Netfilter{
		makeIntent(withLocalInterface("cali", 1<<14), withPort(model.KindClusterIP, "tcp 10.96.0.10:53")),
		makeIntent(withLocalInterface("cali*", 1<<13), withPort(model.KindClusterIP, "tcp 10.96.0.10:53")),
	} {
		if err := f.Verify(other); !errors.Is(err, ErrDrift) {
			t.Errorf("Verify(%v) = %v, want ErrDrift", other.Lines(), err)
		}
	}
	if err := f.Verify(n); err != nil {
		t.Errorf("Verify: %v", err)
	}
}
