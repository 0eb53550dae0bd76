//go:build linux

package conntrack

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func TestEntryFromFlow(t *testing.T) {
	f := &netlink.ConntrackFlow{
		FamilyType: netlink.FAMILY_V4,
		Forward: netlink.IPTuple{Protocol: 17, SrcIP: net.ParseIP("198.18.0.1"), SrcPort: 40000,
			DstIP: net.ParseIP("10.96.0.10"), DstPort: 53},
		Reverse: netlink.IPTuple{Protocol: 17, SrcIP: net.ParseIP("10.244.1.5").To4(), SrcPort: 53,
			DstIP: net.ParseIP("198.18.0.1"), DstPort: 40000},
	}
	want := udp("198.18.0.1:40000", "10.96.0.10:53", "10.244.1.5:53")
	if got := entryFromFlow(f); got != want {
		t.Errorf("entryFromFlow() = %s, want %s", got, want)
	}
	f6 := &netlink.ConntrackFlow{
		FamilyType: netlink.FAMILY_V6,
		Forward: netlink.IPTuple{Protocol: 17, SrcIP: net.ParseIP("fd00::1"), SrcPort: 40000,
			DstIP: net.ParseIP("fd00:96::10"), DstPort: 53},
		Reverse: netlink.IPTuple{Protocol: 17, SrcIP: net.ParseIP("fd00:244::5"), SrcPort: 53,
			DstIP: net.ParseIP("fd00::1"), DstPort: 40000},
	}
	want6 := udp("[fd00::1]:40000", "[fd00:96::10]:53", "[fd00:244::5]:53")
	if got := entryFromFlow(f6); got != want6 {
		t.Errorf("entryFromFlow() = %s, want %s", got, want6)
	}
}

// The matcher handed to netlink must select exactly what Filter.Match
// selects, including the reply port netlink's own filter cannot express.
func TestMatcher(t *testing.T) {
	flow := func(replyPort uint16) *netlink.ConntrackFlow {
		return &netlink.ConntrackFlow{
			FamilyType: netlink.FAMILY_V4,
			Forward: netlink.IPTuple{Protocol: 17, SrcIP: net.ParseIP("198.18.0.1"), SrcPort: 40000,
				DstIP: net.ParseIP("10.96.0.10"), DstPort: 53},
			Reverse: netlink.IPTuple{Protocol: 17, SrcIP: net.ParseIP("198.18.0.9"), SrcPort: replyPort,
				DstIP: net.ParseIP("198.18.0.1"), DstPort: 40000},
		}
	}
	m := matcher(ForEndpoint(model.UDP, vip, 53, ep1))
	if m.MatchConntrackFlow(flow(53)) {
		t.Error("matched another endpoint address")
	}
	m = matcher(Filter{Proto: model.UDP, OrigDst: vip, OrigDstPort: 53,
		ReplySrc: netip.MustParseAddr("198.18.0.9"), ReplySrcPort: 8053})
	if !m.MatchConntrackFlow(flow(8053)) {
		t.Error("did not match its endpoint")
	}
	if m.MatchConntrackFlow(flow(9053)) {
		t.Error("matched an endpoint on another port of the same host")
	}
}
