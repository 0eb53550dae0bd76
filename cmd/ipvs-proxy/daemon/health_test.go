package daemon

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// TestHealthAddresses: the health-check node ports listen on all addresses
// when --nodeport-addresses selects everything, else on the node-port
// addresses (none when it selects none), as kube-proxy's do.
func TestHealthAddresses(t *testing.T) {
	ips := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")}
	tests := []struct {
		name        string
		filter      []string
		nodePortIPs []netip.Addr
		want        []string
	}{
		{name: "no flag: all", filter: nil, nodePortIPs: ips, want: nil},
		{name: "all", filter: []string{"all"}, nodePortIPs: ips, want: nil},
		{name: "zero CIDRs", filter: []string{"0.0.0.0/0", " ::/0"}, nodePortIPs: ips, want: nil},
		{name: "a CIDR", filter: []string{"10.0.0.0/8"}, nodePortIPs: ips, want: []string{"10.0.0.1", "2001:db8::1"}},
		{name: "a zero CIDR and a CIDR of the other family", filter: []string{"0.0.0.0/0", "2001:db8::/64"}, nodePortIPs: ips,
			want: []string{"10.0.0.1", "2001:db8::1"}},
		{name: "primary", filter: []string{"primary"}, nodePortIPs: ips[:1], want: []string{"10.0.0.1"}},
		{name: "matching nothing", filter: []string{"192.0.2.0/24"}, nodePortIPs: []netip.Addr{}, want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &health{anyAddress: matchesAny(tc.filter)}
			if diff := cmp.Diff(tc.want, h.addresses(tc.nodePortIPs)); diff != "" {
				t.Errorf("addresses (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHealthPortsFollowNodePortAddresses runs the daemon's health wiring on
// 127.0.0.1: a health-check node port opens on the node-port addresses,
// closes when they go, reopens when they return, and a port that could not
// be bound is retried by the next sync.
func TestHealthPortsFollowNodePortAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cfg := Config{NodePortAddresses: []string{"127.0.0.0/8", "::1/128"}, SyncPeriod: time.Second}
	h, err := newHealth(t.Context(), cfg, testingclock.NewFakeClock(time.Now()), metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	defer h.stop()
	web := types.NamespacedName{Namespace: "shop", Name: "web"}
	hc := map[types.NamespacedName]reconcile.HealthCheck{web: {Port: port, LocalEndpoints: 1}}
	loopback := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	steps := []struct {
		name        string
		nodePortIPs []netip.Addr
		hc          map[types.NamespacedName]reconcile.HealthCheck
		open        bool
	}{
		{name: "opened on the node-port address", nodePortIPs: loopback, hc: hc, open: true},
		{name: "address gone: closed", nodePortIPs: []netip.Addr{}, open: false},
		{name: "address back: reopened", nodePortIPs: loopback, open: true},
		// 192.0.2.1 (TEST-NET-1) is on no interface: the bind fails.
		{name: "moved to an address that cannot be bound", nodePortIPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, open: false},
		{name: "retried on the next sync", nodePortIPs: loopback, open: true},
	}
	for _, step := range steps {
		h.syncPorts(t.Context(), step.nodePortIPs, step.hc, step.hc != nil)
		if got := accepts(target); got != step.open {
			t.Errorf("%s: %s accepts = %v, want %v", step.name, target, got, step.open)
		}
	}
}

// accepts reports whether something listens on addr.
func accepts(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
