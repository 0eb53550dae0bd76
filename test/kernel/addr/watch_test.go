//go:build vmtest

package addr_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
)

// watch runs the adapter's Watch until the test ends; its events arrive on
// the returned channel.
func watch(t *testing.T, a *addr.Netlink) <-chan addr.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan addr.Event, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Watch(ctx, func(ev addr.Event) { events <- ev })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after its context was cancelled")
		}
	})
	return events
}

// await returns the first event want matches, failing after 5 s.
func await(t *testing.T, events <-chan addr.Event, what string, want func(addr.Event) bool) addr.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if want(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event: %s", what)
		}
	}
}

// subscribed returns once Watch reports events: it binds and unbinds a
// probe address until its notification arrives (Watch subscribes in its
// own goroutine).
func subscribed(t *testing.T, a *addr.Netlink, events <-chan addr.Event) {
	t.Helper()
	probe := ip("198.18.49.1")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if err := a.Bind(probe); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-events:
			if ev.Addr == probe {
				if err := a.Unbind(probe); err != nil {
					t.Fatal(err)
				}
				await(t, events, "unbind of the probe", func(ev addr.Event) bool { return ev.Addr == probe && ev.Kind == addr.AddressRemoved })
				return
			}
		case <-time.After(100 * time.Millisecond):
		}
		if err := a.Unbind(probe); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("Watch reported nothing within 5 s")
}

// inNS runs a command in the namespace, as an administrator would.
func inNS(t *testing.T, n *netnstest.NetNS, args ...string) {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=" + n.Path, "--"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// TestWatchSeesAddressDrift: the real subscription reports `ip route del`
// of an IPv4 address's local route and `ip addr del` of an IPv6 address, an
// address added by hand (as kube-proxy binds them), an address of
// another link, the dummy interface deleted and recreated; and a
// subscription that stops with its context.
func TestWatchSeesAddressDrift(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	vip4, vip6 := ip("198.18.40.10"), ip("fd00:40::10")
	events := watch(t, a)
	subscribed(t, a, events)
	// Our own binds are reported too.
	if err := a.Bind(vip4); err != nil {
		t.Fatal(err)
	}
	await(t, events, "our bind of "+vip4.String(), func(ev addr.Event) bool {
		return ev.Kind == addr.AddressAdded && ev.Addr == vip4 && ev.Dummy
	})
	if errs := a.BindAll([]netip.Addr{vip6}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	await(t, events, "our bind of "+vip6.String(), func(ev addr.Event) bool {
		return ev.Kind == addr.AddressAdded && ev.Addr == vip6 && ev.Dummy
	})

	start := time.Now()
	inNS(t, n, "ip", "route", "del", "table", "local", "local", "198.18.40.10", "dev", "lo", "proto", "107")
	await(t, events, "ip route del "+vip4.String(), func(ev addr.Event) bool {
		return ev.Kind == addr.AddressRemoved && ev.Addr == vip4 && ev.Dummy
	})
	t.Logf("ip route del reported %v after the command started (exec included)", time.Since(start))
	inNS(t, n, "ip", "addr", "del", "fd00:40::10/128", "dev", addr.DefaultInterface)
	await(t, events, "ip addr del "+vip6.String(), func(ev addr.Event) bool {
		return ev.Kind == addr.AddressRemoved && ev.Addr == vip6 && ev.Dummy
	})
	inNS(t, n, "ip", "addr", "add", "198.18.40.99/32", "dev", addr.DefaultInterface)
	await(t, events, "a foreign address added", func(ev addr.Event) bool {
		return ev.Kind == addr.AddressAdded && ev.Addr == ip("198.18.40.99") && ev.Dummy
	})
	n.AddLoopback(t, ip("198.18.41.1"))
	await(t, events, "a host address added", func(ev addr.Event) bool {
		return ev.Kind == addr.AddressAdded && ev.Addr == ip("198.18.41.1") && !ev.Dummy
	})

	inNS(t, n, "ip", "link", "del", addr.DefaultInterface)
	await(t, events, "the dummy deleted", func(ev addr.Event) bool { return ev.Kind == addr.InterfaceChanged })
	if err := a.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	await(t, events, "the dummy recreated", func(ev addr.Event) bool { return ev.Kind == addr.InterfaceChanged })
	if err := a.Bind(vip4); err != nil {
		t.Fatal(err)
	}
	await(t, events, "a bind on the recreated dummy", func(ev addr.Event) bool {
		return ev.Kind == addr.AddressAdded && ev.Addr == vip4 && ev.Dummy
	})
}

// TestWatchOverflowIsReported: a burst larger than the receive buffer
// while the consumer is stalled is reported as EventsLost (ENOBUFS), never
// dropped silently, and the subscription keeps working after it.
func TestWatchOverflowIsReported(t *testing.T) {
	n := netnstest.New(t)
	a := adapter(t, n, func(c *addr.Config) { c.WatchBuffer = 64 << 10 })
	if err := a.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	events := make(chan addr.Event, 4096)
	stall := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Watch(ctx, func(ev addr.Event) {
			if ev.Addr == ip("198.18.48.1") {
				<-stall // the consumer is stuck while the burst comes
			}
			events <- ev
		})
	}()
	defer func() { cancel(); <-done }()
	subscribed(t, a, events)
	if err := a.Bind(ip("198.18.48.1")); err != nil {
		t.Fatal(err)
	}
	// 2,000 notifications: far more than 64 KiB hold.
	var addrs []netip.Addr
	for i := range 2000 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{198, 18, byte(100 + i/250), byte(1 + i%250)}))
	}
	for i, err := range a.BindAll(addrs) {
		if err != nil {
			t.Fatalf("bind %s: %v", addrs[i], err)
		}
	}
	close(stall)
	ev := await(t, events, "EventsLost after an overflowing burst", func(ev addr.Event) bool { return ev.Kind == addr.EventsLost })
	t.Logf("overflow reported: %v", ev.Err)
	// Until the backlog is read the socket stays congested and drops (and
	// reports) more: unbind one address after another until one is seen.
	unbound := map[netip.Addr]bool{}
	for i, deadline := 0, time.Now().Add(10*time.Second); ; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no notification after the overflow: the subscription did not survive it")
		}
		if err := a.Unbind(addrs[i]); err != nil {
			t.Fatal(err)
		}
		unbound[addrs[i]] = true
		if seen := func() bool {
			for timeout := time.After(100 * time.Millisecond); ; {
				select {
				case ev := <-events:
					if ev.Kind == addr.AddressRemoved && unbound[ev.Addr] {
						return true
					}
				case <-timeout:
					return false
				}
			}
		}(); seen {
			t.Logf("notifications again after %d unbinds", i+1)
			return
		}
	}
}

// TestWatchKeepsUpWithAColdSync: the notifications of a cold sync's
// 10,000 binds (BindAll, 256 per write) fit the default receive buffer
// while a consumer as cheap as the daemon's (a map under a mutex) reads
// them: every one arrives and none is lost, so our own cold sync costs no
// address listing. The binds are timed (wall and process CPU) with and
// without the watch, alternately.
func TestWatchKeepsUpWithAColdSync(t *testing.T) {
	var addrs []netip.Addr
	for i := range 10000 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{198, 18, byte(100 + i/250), byte(1 + i%250)}))
	}
	var report []string
	for round := range 2 {
		watched := round%2 == 1
		wall, cpu, seen, lost := bindWatched(t, addrs, watched)
		report = append(report, fmt.Sprintf("watched=%v: wall %v, CPU %v, notifications %d, losses %d",
			watched, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), seen, lost))
		if watched && (lost > 0 || seen != len(addrs)) {
			t.Errorf("notifications of a 10,000-address cold sync: %d of %d received, %d losses", seen, len(addrs), lost)
		}
	}
	t.Logf("BindAll of 10,000 addresses:\n%s", strings.Join(report, "\n"))
}

// bindWatched binds addrs in a fresh namespace, with or without a watch
// counting the notifications, and deletes the interface (so that the
// kernel's global address hash is the same for every run). CPU is the
// process's user+system time during the binds and until the last
// notification was read.
func bindWatched(t *testing.T, addrs []netip.Addr, watched bool) (wall, cpu time.Duration, seen, lost int) {
	t.Helper()
	n := netnstest.New(t)
	a := ensured(t, n)
	var mu sync.Mutex
	got := map[netip.Addr]bool{}
	if watched {
		events := make(chan addr.Event, 16)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.Watch(ctx, func(ev addr.Event) {
				if ev.Addr == ip("198.18.49.1") {
					events <- ev // the probe of subscribed
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch ev.Kind {
				case addr.EventsLost:
					lost++
				case addr.AddressAdded:
					got[ev.Addr] = true
				}
			})
		}()
		defer func() { cancel(); <-done }()
		subscribed(t, a, events)
	}
	cpu0 := processCPU(t)
	start := time.Now()
	for i, err := range a.BindAll(addrs) {
		if err != nil {
			t.Fatalf("bind %s: %v", addrs[i], err)
		}
	}
	wall = time.Since(start)
	for deadline := time.Now().Add(20 * time.Second); watched && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n, l := len(got), lost
		mu.Unlock()
		if n == len(addrs) || l > 0 {
			break
		}
	}
	cpu = processCPU(t) - cpu0
	if err := a.DeleteInterface(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return wall, cpu, len(got), lost
}

// processCPU is the process's user and system CPU time so far.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
