//go:build e2eguest

package scenarios

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// Test14DetectLocalInterface: --detect-local-mode BridgeInterface and
// InterfaceNamePrefix, run by ipvs-proxy and then by the real kube-proxy
// v1.37.2 (IPVS mode) on the same node, must masquerade the same
// connections to a cluster IP: kept are those entering through the bridge
// (pod "pa", whose veth is a port of br-pods) or through an interface
// named with the prefix (pod "pb", veth v-pb); masqueraded are the others
// (the other pod, an outside client) and the node's own. Both families.
func Test14DetectLocalInterface(t *testing.T) {
	e := setup(t)
	pods := e.pods("web", "pa", "pb")
	web, pa, pb := pods[0], pods[1], pods[2]
	out := e.client("out", 200)
	bridgePod(t, pa.Net, "br-pods")
	svc := e.service("web")
	e.slices(svc, ready(web))
	clients := []*guest.Netns{pa.Net, pb.Net, out, guest.Node}

	modes := []struct {
		name string
		args []string
		kept *guest.Netns // the one client not masqueraded
	}{
		{"BridgeInterface", []string{"--detect-local-mode=BridgeInterface", "--pod-bridge-interface=br-pods"}, pa.Net},
		{"InterfaceNamePrefix", []string{"--detect-local-mode=InterfaceNamePrefix", "--pod-interface-name-prefix=v-p"}, pb.Net},
	}
	for _, m := range modes {
		seen := map[string]map[string]netip.Addr{} // daemon -> client/family -> source the backend saw
		for _, kubeProxy := range []bool{false, true} {
			who := "ipvs-proxy"
			if kubeProxy {
				who = "kube-proxy"
			}
			d := e.startProxy(fmt.Sprintf("%s-%s-%s", e.ns, m.name, who), kubeProxy, m.args)
			seen[who] = map[string]netip.Addr{}
			for _, v6 := range []bool{false, true} {
				vip := e.clusterIP(svc, v6)
				e.waitWeights(vip, "tcp", weights(v6, 1, web))
				for _, c := range clients {
					from := e.sourceSeen(c, vip)
					seen[who][c.Name+" "+family(v6)] = from
					masqueraded := from != c.Addr(v6)
					if c == guest.Node {
						// The node connects from the cluster IP itself, the
						// source the kernel picks for a local address.
						masqueraded = from != vip.Addr()
					}
					if want := c != m.kept; masqueraded != want {
						t.Errorf("%s, %s: %s -> %s: the backend saw %s; masqueraded = %v, want %v", m.name, who, c.Name, vip, from, masqueraded, want)
					}
				}
			}
			e.stopProxy(d, kubeProxy)
		}
		for k, ours := range seen["ipvs-proxy"] {
			if theirs := seen["kube-proxy"][k]; ours != theirs {
				t.Errorf("%s: %s: ipvs-proxy's backend saw %s, kube-proxy's %s", m.name, k, ours, theirs)
			}
		}
		t.Logf("%s: the backend saw the same sources under both proxies: %v", m.name, seen["ipvs-proxy"])
	}
}

// startProxy starts ipvs-proxy, or kube-proxy, with args and waits for its
// first sync.
func (e *env) startProxy(name string, kubeProxy bool, args []string) *guest.Daemon {
	e.t.Helper()
	start := guest.StartDaemon
	if kubeProxy {
		start = guest.StartKubeProxy
	}
	d, err := start(name, args...)
	e.must(err, "starting "+name)
	e.daemons = append(e.daemons, d)
	e.t.Cleanup(func() { _ = d.Kill() })
	e.must(d.WaitSynced(syncTimeout), "waiting for the first sync of "+name)
	return d
}

// stopProxy stops a proxy and removes what it programmed, so that the next
// one starts from a clean node: ipvs-proxy's tables and virtual servers,
// or kube-proxy's too (its iptables rules would masquerade for the next).
func (e *env) stopProxy(d *guest.Daemon, kubeProxy bool) {
	e.t.Helper()
	err := d.Stop(30 * time.Second)
	var args []string
	if kubeProxy {
		// kube-proxy does not catch SIGTERM: it dies of it.
		if err != nil && !killedBy(err, syscall.SIGTERM) {
			e.t.Fatalf("stopping kube-proxy: %v", err)
		}
		args = []string{"--cleanup-kube-proxy"}
	} else {
		e.must(err, "stopping ipvs-proxy")
	}
	out, err := guest.Cleanup(args...)
	e.must(err, "ipvs-proxy --cleanup:\n"+out)
}

// sourceSeen connects from c to vip and returns the client address the
// backend saw.
func (e *env) sourceSeen(c *guest.Netns, vip netip.AddrPort) netip.Addr {
	e.t.Helper()
	conn, err := c.Dial(vip)
	e.must(err, fmt.Sprintf("connecting from %s to %s", c.Name, vip))
	defer conn.Close()
	_, from, err := conn.AskFrom(guest.DialTimeout)
	e.must(err, fmt.Sprintf("asking %s from %s", vip, c.Name))
	return from.Addr()
}

// bridgePod makes the pod's node-side veth (v-NAME) a port of a new bridge
// that takes over its gateway addresses, as a CNI bridge plugin attaches
// pods to cni0: the pod's packets then enter the node's IP layer through
// the bridge.
func bridgePod(t *testing.T, pod *guest.Netns, bridge string) {
	t.Helper()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridge}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatalf("adding bridge %s: %v", bridge, err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(br) })
	port, err := netlink.LinkByName("v-" + pod.Name)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(port, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	brLink, err := netlink.LinkByName(bridge)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			continue
		}
		if err := netlink.AddrDel(port, &a); err != nil {
			t.Fatalf("removing %s from %s: %v", a.IPNet, port.Attrs().Name, err)
		}
		moved := &netlink.Addr{IPNet: a.IPNet, Flags: syscall.IFA_F_NODAD}
		if err := netlink.AddrAdd(brLink, moved); err != nil {
			t.Fatalf("adding %s to %s: %v", a.IPNet, bridge, err)
		}
	}
	if err := netlink.LinkSetMaster(port, brLink); err != nil {
		t.Fatalf("attaching %s to %s: %v", port.Attrs().Name, bridge, err)
	}
	if err := netlink.LinkSetUp(brLink); err != nil {
		t.Fatalf("raising %s: %v", bridge, err)
	}
}
