//go:build e2eguest

package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// Test10Cleanup: after the daemon programmed services of every type and
// stopped, `ipvs-proxy --cleanup` leaves no IPVS virtual server, no
// kube-ipvs0 dummy interface and no nftables table of ours.
func Test10Cleanup(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b")
	svc := e.service("web", loadBalancer("198.19.250.50", "fd00:30::250:50"), externalIPs("198.19.251.50"))
	e.slices(svc, readyPods(pods...)...)
	dns := e.service("dns", udp)
	e.slices(dns, readyPods(pods...)...)
	d := e.daemon()
	e.waitWeights(e.clusterIP(svc, true), "tcp", weights(true, 1, pods...))
	e.must(d.Stop(10*time.Second), "stopping the daemon")

	n, err := guest.CountServices()
	e.must(err, "counting IPVS services")
	tables, _ := guest.Run("nft", "list", "tables")
	if _, lerr := netlink.LinkByName("kube-ipvs0"); n == 0 || lerr != nil || !strings.Contains(tables, "ipvs-proxy") {
		t.Fatalf("before cleanup: %d IPVS services, kube-ipvs0: %v, nft tables:\n%s", n, lerr, tables)
	}
	t.Logf("Before cleanup: %d IPVS virtual servers, kube-ipvs0, and nftables tables:\n%s", n, tables)

	out, err := guest.Cleanup()
	e.must(err, "ipvs-proxy --cleanup:\n"+out)
	if n, err := guest.CountServices(); err != nil || n != 0 {
		t.Errorf("after cleanup: %d IPVS virtual servers (%v), want none", n, err)
	}
	if _, err := netlink.LinkByName("kube-ipvs0"); err == nil {
		t.Errorf("after cleanup: kube-ipvs0 still exists")
	}
	tables, _ = guest.Run("nft", "list", "tables")
	if strings.Contains(tables, "ipvs-proxy") {
		t.Errorf("after cleanup: nftables still has our tables:\n%s", tables)
	}
	t.Logf("After cleanup: no IPVS virtual server, no kube-ipvs0, nftables tables: %q", strings.TrimSpace(tables))
}
