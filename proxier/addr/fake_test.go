package addr

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
)

// counts are a fake's read and write counters, compared at once.
type counts struct{ Reads, Writes int }

func countsOf(f *Fake) counts { return counts{Reads: f.Reads(), Writes: f.Writes()} }

var (
	vip1 = netip.MustParseAddr("10.96.0.1")
	vip2 = netip.MustParseAddr("10.96.0.10")
	vip6 = netip.MustParseAddr("fd00:96::1")
)

func TestFake(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		setup      func(*Fake)
		run        func(*Fake) error
		wantErr    error
		wantDump   string
		wantCounts counts
	}{
		{
			name:       "ensure creates the interface",
			run:        func(f *Fake) error { return f.EnsureInterface() },
			wantDump:   "interface kube-ipvs0 dummy noarp\n",
			wantCounts: counts{Writes: 1},
		},
		{
			name:       "ensure on a correct interface only reads",
			setup:      func(f *Fake) { f.SeedInterface(vip1) },
			run:        func(f *Fake) error { return f.EnsureInterface() },
			wantDump:   "interface kube-ipvs0 dummy noarp\n10.96.0.1\n",
			wantCounts: counts{Reads: 1},
		},
		{
			name:       "ensure restores NOARP and keeps addresses",
			setup:      func(f *Fake) { f.SeedInterface(vip1); f.SeedARP() },
			run:        func(f *Fake) error { return f.EnsureInterface() },
			wantDump:   "interface kube-ipvs0 dummy noarp\n10.96.0.1\n",
			wantCounts: counts{Writes: 1},
		},
		{
			name:       "ensure refuses a foreign link",
			setup:      func(f *Fake) { f.SeedForeignLink() },
			run:        func(f *Fake) error { return f.EnsureInterface() },
			wantErr:    ErrNotDummy,
			wantDump:   "interface kube-ipvs0 foreign\n",
			wantCounts: counts{Reads: 1},
		},
		{
			name:  "bind both families, twice",
			setup: func(f *Fake) { f.SeedInterface() },
			run: func(f *Fake) error {
				for _, a := range []netip.Addr{vip6, vip2, vip1, vip2} {
					if err := f.Bind(a); err != nil {
						return err
					}
				}
				return nil
			},
			wantDump:   "interface kube-ipvs0 dummy noarp\n10.96.0.1\n10.96.0.10\nfd00:96::1\n",
			wantCounts: counts{Writes: 4},
		},
		{
			name:       "bind without interface",
			run:        func(f *Fake) error { return f.Bind(vip1) },
			wantErr:    ErrInterfaceNotFound,
			wantDump:   "interface kube-ipvs0 absent\n",
			wantCounts: counts{Writes: 1},
		},
		{
			name:  "unbind bound and missing addresses",
			setup: func(f *Fake) { f.SeedInterface(vip1, vip2) },
			run: func(f *Fake) error {
				if err := f.Unbind(vip1); err != nil {
					return err
				}
				return f.Unbind(vip6)
			},
			wantDump:   "interface kube-ipvs0 dummy noarp\n10.96.0.10\n",
			wantCounts: counts{Writes: 2},
		},
		{
			name:       "unbind without interface",
			run:        func(f *Fake) error { return f.Unbind(vip1) },
			wantDump:   "interface kube-ipvs0 absent\n",
			wantCounts: counts{Writes: 1},
		},
		{
			name:       "delete removes addresses",
			setup:      func(f *Fake) { f.SeedInterface(vip1) },
			run:        func(f *Fake) error { return f.DeleteInterface() },
			wantDump:   "interface kube-ipvs0 absent\n",
			wantCounts: counts{Writes: 1},
		},
		{
			name:       "delete missing interface",
			run:        func(f *Fake) error { return f.DeleteInterface() },
			wantDump:   "interface kube-ipvs0 absent\n",
			wantCounts: counts{Reads: 1},
		},
		{
			name:       "delete never removes a foreign link",
			setup:      func(f *Fake) { f.SeedForeignLink() },
			run:        func(f *Fake) error { return f.DeleteInterface() },
			wantErr:    ErrNotDummy,
			wantDump:   "interface kube-ipvs0 foreign\n",
			wantCounts: counts{Reads: 1},
		},
		{
			name:  "injected bind error for one address",
			setup: func(f *Fake) { f.SeedInterface(); f.Fail(CallBind, fault.Rule{Subject: "10.96.0.10", Err: boom}) },
			run: func(f *Fake) error {
				if err := f.Bind(vip1); err != nil {
					return err
				}
				return f.Bind(vip2)
			},
			wantErr:    boom,
			wantDump:   "interface kube-ipvs0 dummy noarp\n10.96.0.1\n",
			wantCounts: counts{Writes: 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake(Config{})
			if tc.setup != nil {
				tc.setup(f)
			}
			err := tc.run(f)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if got := f.Dump(); got != tc.wantDump {
				t.Errorf("Dump() =\n%s\nwant:\n%s", got, tc.wantDump)
			}
			if got := countsOf(f); got != tc.wantCounts {
				t.Errorf("counts = %+v, want %+v", got, tc.wantCounts)
			}
		})
	}
}

func TestFakeList(t *testing.T) {
	f := NewFake(Config{Name: "ipvs0"})
	if _, err := f.List(); !errors.Is(err, ErrInterfaceNotFound) {
		t.Errorf("List() without interface = %v, want ErrInterfaceNotFound", err)
	}
	f.SeedInterface(vip6, vip2, netip.MustParseAddr("fe80::1"), vip1)
	got, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{vip1, vip2, vip6}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("List() = %v, want %v (sorted, no link-local)", got, want)
	}
	if d := f.Dump(); d != "interface ipvs0 dummy noarp\n10.96.0.1\n10.96.0.10\nfd00:96::1\nfe80::1\n" {
		t.Errorf("Dump() = %q", d)
	}
}

func TestFakeNodeAddresses(t *testing.T) {
	f := NewFake(Config{PrimaryIPs: addrs("198.18.0.2")})
	f.SetHostAddresses(addrs("198.18.0.2", "198.18.1.2", "127.0.0.1", "fe80::2")...)
	f.SeedInterface(vip1)
	got, err := f.NodeAddresses([]string{"primary"})
	if err != nil || len(got) != 1 || got[0] != netip.MustParseAddr("198.18.0.2") {
		t.Errorf("NodeAddresses(primary) = %v, %v", got, err)
	}
	got, err = f.NodeAddresses(nil)
	if err != nil || len(got) != 2 {
		t.Errorf("NodeAddresses(nil) = %v, %v; want both global IPv4 addresses", got, err)
	}
	if _, err := f.NodeAddresses([]string{"bogus"}); err == nil {
		t.Error("NodeAddresses(bogus) returned no error")
	}
	if got := countsOf(f); got != (counts{Reads: 2}) {
		t.Errorf("counts = %+v, want 2 reads", got)
	}
}

// HostAddresses lists every address of the other links, unfiltered,
// sorted and unique; the dummy's addresses are not among them.
func TestFakeHostAddresses(t *testing.T) {
	f := NewFake(Config{})
	f.SeedInterface(vip1)
	if got, err := f.HostAddresses(); err != nil || len(got) != 0 {
		t.Errorf("HostAddresses() without host addresses = %v, %v", got, err)
	}
	f.SetHostAddresses(addrs("198.18.1.2", "fe80::2", "127.0.0.1", "198.18.0.2", "198.18.1.2")...)
	got, err := f.HostAddresses()
	want := addrs("127.0.0.1", "198.18.0.2", "198.18.1.2", "fe80::2")
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("HostAddresses() = %v, %v; want %v", got, err, want)
	}
	boom := errors.New("boom")
	f.Fail(CallHostAddresses, fault.Rule{Err: boom})
	if _, err := f.HostAddresses(); !errors.Is(err, boom) {
		t.Errorf("HostAddresses() with an injected error = %v", err)
	}
	if got := countsOf(f); got != (counts{Reads: 3}) {
		t.Errorf("counts = %+v, want 3 reads", got)
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := NewFake(Config{})
	if err := f.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				a := netip.AddrFrom4([4]byte{10, 96, byte(i), byte(j)})
				_ = f.Bind(a)
				_, _ = f.List()
				_ = f.Unbind(a)
				_ = f.Dump()
			}
		}()
	}
	wg.Wait()
	if got := f.Dump(); got != "interface kube-ipvs0 dummy noarp\n" {
		t.Errorf("Dump() = %q", got)
	}
}
