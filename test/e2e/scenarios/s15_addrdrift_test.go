//go:build e2eguest

package scenarios

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	v1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// driftRounds is how many times each address is deleted by hand.
const driftRounds = 5

// Test15AddressDrift: with --ipvs-sync-period=10m, so that the periodic
// repair cannot be what fixes it, a cluster IP deleted from kube-ipvs0 by
// hand (`ip addr del`, or `ip route del local` for one bound as a local
// route; and over netlink for a figure without the exec) is bound again
// within 3 s, from the kernel's notification, and
// traffic to it works; a new address on eth0 gets the node port within 5 s
// (node addresses were re-read once per sync period before); and the
// thread the watch blocks in poll(2) with does not wake while nothing
// changes.
func Test15AddressDrift(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b")
	svc := e.service("web", nodePort)
	e.slices(svc, readyPods(pods...)...)
	d := e.daemon("--ipvs-sync-period=10m")
	for _, v6 := range []bool{false, true} {
		e.waitWeights(e.clusterIP(svc, v6), "tcp", weights(v6, 1, pods...))
	}
	cl := e.client("client", 200)
	time.Sleep(time.Second) // the first sync's own notifications handled

	for _, v6 := range []bool{false, true} {
		vip := e.clusterIP(svc, v6)
		for _, byHand := range []bool{true, false} {
			var took []time.Duration
			var how string
			for range driftRounds {
				d, h := e.deleteAndAwait(vip.Addr(), byHand)
				took, how = append(took, d), h
			}
			slices.Sort(took)
			t.Logf("%s %s deleted from kube-ipvs0 %d times with %s: bound again after %v (median %v), counted from just before the deletion",
				family(v6), vip.Addr(), driftRounds, how, took, took[len(took)/2])
		}
		e.spread(cl, vip, 10, evenly(10, pods...))
	}
	if ok, _ := d.LogContains("Kernel reported address drift"); !ok {
		t.Errorf("the daemon did not log the drift it repaired; last lines:\n%s", d.LogTail(20))
	}

	e.nodeAddressFollowed(svc, pods)
	e.watchIdle(d, 10*time.Second)
}

// deleteAndAwait deletes a from kube-ipvs0 in the form it is bound in (an
// address or a local route; with ip(8) when byHand, else over netlink) and
// returns how long it took to be bound again, counted from just before the
// deletion, and how it was deleted.
func (e *env) deleteAndAwait(a netip.Addr, byHand bool) (time.Duration, string) {
	e.t.Helper()
	b, ok, err := guest.IsBound(guest.DummyInterface, a)
	e.must(err, "reading what is bound on kube-ipvs0")
	if !ok {
		e.t.Fatalf("%s is not bound on kube-ipvs0 before the deletion", a)
	}
	how := "netlink (" + b.Form.String() + ")"
	if byHand {
		how = guest.UnbindCommand(guest.DummyInterface, b)
	}
	start := time.Now()
	e.must(guest.Unbind(guest.DummyInterface, b, byHand), "deleting "+a.String())
	deleted := time.Now()
	err = guest.Eventually(3*time.Second, 2*time.Millisecond, func() (bool, string) {
		again, ok, err := guest.IsBound(guest.DummyInterface, a)
		if err != nil {
			return false, err.Error()
		}
		return ok, fmt.Sprintf("%s bound %v %+v", a, ok, again)
	})
	e.must(err, fmt.Sprintf("waiting for %s to be bound again after %s (deleted %v after the start)", a, how, deleted.Sub(start)))
	return time.Since(start), how
}

// nodeAddressFollowed adds an address to eth0 and waits for the service's
// node port on it, then removes it and waits for the virtual server to go.
func (e *env) nodeAddressFollowed(svc *v1.Service, pods []*guest.Pod) {
	e.t.Helper()
	extra := netip.MustParseAddr("198.19.254.15")
	link, err := netlink.LinkByName("eth0")
	e.must(err, "finding eth0")
	ip := netlink.Addr{IPNet: netlink.NewIPNet(extra.AsSlice())}
	start := time.Now()
	e.must(netlink.AddrAdd(link, &ip), "adding "+extra.String()+" to eth0")
	e.t.Cleanup(func() { _ = netlink.AddrDel(link, &ip) })
	np := netip.AddrPortFrom(extra, uint16(svc.Spec.Ports[0].NodePort))
	took, err := guest.WaitWeights(np, "tcp", guest.WeightsOf(weights(false, 1, pods...)), 5*time.Second)
	e.must(err, "waiting for the node port on the new node address")
	e.t.Logf("Node port %s programmed %v after %s was added to eth0 (%v counted from the add)", np, took, extra, time.Since(start))
	e.must(netlink.AddrDel(link, &ip), "removing "+extra.String())
	err = guest.Eventually(5*time.Second, 10*time.Millisecond, func() (bool, string) {
		_, found, err := guest.Service(np, "tcp")
		return err == nil && !found, fmt.Sprintf("virtual server %s found %v (%v)", np, found, err)
	})
	e.must(err, "waiting for the node port to go with the address")
}

// watchIdle finds the daemon's threads blocked in ppoll(2) (the address
// watch; the Go runtime's own poller uses epoll_pwait) and checks that
// they do not wake over an idle period.
func (e *env) watchIdle(d *guest.Daemon, period time.Duration) {
	e.t.Helper()
	const sysPpoll = "271" // x86_64
	switches := func() map[string]string {
		out := map[string]string{}
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", d.PID()))
		e.must(err, "listing the daemon's threads")
		for _, task := range tasks {
			dir := fmt.Sprintf("/proc/%d/task/%s/", d.PID(), task.Name())
			sc, err := os.ReadFile(dir + "syscall")
			if err != nil || strings.Fields(string(sc))[0] != sysPpoll {
				continue
			}
			status, err := os.ReadFile(dir + "status")
			e.must(err, "reading a thread's status")
			for _, l := range strings.Split(string(status), "\n") {
				if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
					out[task.Name()] = strings.TrimSpace(v)
				}
			}
		}
		return out
	}
	before := switches()
	if len(before) == 0 {
		e.t.Fatalf("no thread of the daemon is blocked in ppoll: the address watch is not running")
	}
	time.Sleep(period)
	after := switches()
	for tid, n := range before {
		if after[tid] != n {
			e.t.Errorf("thread %s in ppoll woke while idle: voluntary context switches %s, then %s", tid, n, after[tid])
		}
	}
	e.t.Logf("Idle for %v: the daemon's thread(s) blocked in ppoll %v did not wake (voluntary context switches unchanged)", period, before)
}
