package addr

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
)

// watched starts a Watch on f and returns what it received so far.
func watched(t *testing.T, f *Fake) func() []Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Watch(ctx, func(ev Event) {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(5 * time.Second); !f.Watching(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not subscribe")
		}
	}
	return func() []Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]Event(nil), got...)
	}
}

func TestFakeWatch(t *testing.T) {
	host := netip.MustParseAddr("198.18.0.2")
	f := NewFake(Config{})
	f.SeedInterface(vip1)
	f.SetHostAddresses(host) // before Watch: not reported
	events := watched(t, f)

	if err := f.Bind(vip2); err != nil {
		t.Fatal(err)
	}
	_ = f.Bind(vip2) // already bound: the kernel reports nothing
	f.RemoveAddress(vip1)
	f.AddAddress(vip6)
	if err := f.Unbind(vip2); err != nil {
		t.Fatal(err)
	}
	f.SetHostAddresses()
	f.Inject(Event{Kind: EventsLost})
	f.RemoveInterface()
	if err := f.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Kind: AddressAdded, Addr: vip2, Dummy: true},
		{Kind: AddressRemoved, Addr: vip1, Dummy: true},
		{Kind: AddressAdded, Addr: vip6, Dummy: true},
		{Kind: AddressRemoved, Addr: vip2, Dummy: true},
		{Kind: AddressRemoved, Addr: host},
		{Kind: EventsLost},
		{Kind: InterfaceChanged},
		{Kind: InterfaceChanged},
	}
	if diff := cmp.Diff(want, events(), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if got := f.Dump(); got != "interface kube-ipvs0 dummy noarp\n" {
		t.Errorf("Dump after the interface was recreated = %q", got)
	}
}

// TestFakeWatchRenewed: a failed subscription is renewed and reports that
// events were lost.
func TestFakeWatchRenewed(t *testing.T) {
	boom := errors.New("boom")
	f := NewFake(Config{})
	f.Fail(CallWatch, fault.Rule{Err: boom, Times: 1})
	events := watched(t, f)
	got := events()
	if len(got) != 2 || got[0].Kind != EventsLost || got[1].Kind != EventsLost || !errors.Is(got[1].Err, boom) {
		t.Errorf("events after a failed subscription = %+v, want EventsLost with %v at once and once renewed", got, boom)
	}
	if n := f.Calls(CallWatch); n != 2 {
		t.Errorf("subscriptions = %d, want 2", n)
	}
}
