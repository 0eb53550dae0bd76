package conntrack

import (
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// counts are a fake's read and write counters, compared at once.
type counts struct{ Reads, Writes int }

func countsOf(f *Fake) counts { return counts{Reads: f.Reads(), Writes: f.Writes()} }

func TestFakeClear(t *testing.T) {
	table := func() []Entry {
		return []Entry{
			udp("198.18.0.1:40000", "10.96.0.10:53", "10.244.1.5:53"),
			udp("198.18.0.1:40001", "10.96.0.10:53", "10.244.2.7:53"),
			udp("198.18.0.3:40000", "10.96.0.11:53", "10.244.1.5:53"),
			flow(model.TCP, "198.18.0.1:40000", "10.96.0.10:53", "10.244.1.5:53"),
			udp("[fd00::1]:40000", "[fd00:96::10]:53", "[fd00:244::5]:53"),
		}
	}
	tests := []struct {
		name      string
		filters   []Filter
		wantN     int
		wantDump  string
		wantErr   bool
		wantCalls counts
	}{
		{
			name:    "endpoint removed",
			filters: []Filter{ForEndpoint(model.UDP, vip, 53, ep1)},
			wantN:   1,
			wantDump: "tcp 198.18.0.1:40000->10.96.0.10:53 reply 10.244.1.5:53->198.18.0.1:40000\n" +
				"udp 198.18.0.1:40001->10.96.0.10:53 reply 10.244.2.7:53->198.18.0.1:40001\n" +
				"udp 198.18.0.3:40000->10.96.0.11:53 reply 10.244.1.5:53->198.18.0.3:40000\n" +
				"udp [fd00::1]:40000->[fd00:96::10]:53 reply [fd00:244::5]:53->[fd00::1]:40000\n",
			wantCalls: counts{Writes: 1},
		},
		{
			name:    "service removed, both families",
			filters: []Filter{ForService(model.UDP, vip, 53), ForService(model.UDP, vip6, 53)},
			wantN:   3,
			wantDump: "tcp 198.18.0.1:40000->10.96.0.10:53 reply 10.244.1.5:53->198.18.0.1:40000\n" +
				"udp 198.18.0.3:40000->10.96.0.11:53 reply 10.244.1.5:53->198.18.0.3:40000\n",
			wantCalls: counts{Writes: 1},
		},
		{
			name:      "no filters: no call",
			wantDump:  "",
			wantCalls: counts{},
		},
		{
			name:      "invalid filter: nothing deleted, no call",
			filters:   []Filter{ForService(model.UDP, vip, 53), {Proto: model.UDP}},
			wantErr:   true,
			wantCalls: counts{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake(table()...)
			before := f.Dump()
			n, err := f.Clear(tc.filters...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Clear() error = %v, wantErr %t", err, tc.wantErr)
			}
			if n != tc.wantN {
				t.Errorf("Clear() = %d, want %d", n, tc.wantN)
			}
			want := tc.wantDump
			if len(tc.filters) == 0 || tc.wantErr {
				want = before
			}
			if got := f.Dump(); got != want {
				t.Errorf("Dump() after Clear:\n%s\nwant:\n%s", got, want)
			}
			if got := countsOf(f); got != tc.wantCalls {
				t.Errorf("counts = %+v, want %+v", got, tc.wantCalls)
			}
		})
	}
}

func TestFakeFail(t *testing.T) {
	boom := errors.New("boom")
	f := NewFake(udp("198.18.0.1:40000", "10.96.0.10:53", "10.244.1.5:53"))
	f.Fail(CallClear, fault.Rule{Err: boom})
	f.Fail(CallList, fault.Rule{Err: boom})
	if n, err := f.Clear(ForService(model.UDP, vip, 53)); !errors.Is(err, boom) || n != 0 {
		t.Errorf("Clear() = %d, %v; want 0, boom", n, err)
	}
	if _, err := f.List(model.UDP); !errors.Is(err, boom) {
		t.Errorf("List() = %v, want boom", err)
	}
	f.ClearFaults()
	if n, err := f.Clear(ForService(model.UDP, vip, 53)); err != nil || n != 1 {
		t.Errorf("Clear() after clearing the injection = %d, %v; want 1, nil", n, err)
	}
	if got, want := countsOf(f), (counts{Reads: 1, Writes: 2}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
}

func TestFakeListProtocol(t *testing.T) {
	f := NewFake(
		udp("198.18.0.1:40000", "10.96.0.10:53", "10.244.1.5:53"),
		flow(model.TCP, "198.18.0.1:40000", "10.96.0.10:80", "10.244.1.5:80"),
	)
	if es, _ := f.List(model.UDP); len(es) != 1 || es[0].Proto != model.UDP {
		t.Errorf("List(udp) = %v", es)
	}
	if es, _ := f.List(0); len(es) != 2 {
		t.Errorf("List(0) = %v", es)
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := NewFake()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				addr := netip.AddrFrom4([4]byte{10, 96, byte(i), byte(j)})
				f.Seed(Entry{Proto: model.UDP,
					Orig:  Tuple{Src: netip.MustParseAddrPort("198.18.0.1:1"), Dst: netip.AddrPortFrom(addr, 53)},
					Reply: Tuple{Src: ep1, Dst: netip.MustParseAddrPort("198.18.0.1:1")}})
				_, _ = f.Clear(ForService(model.UDP, addr, 53))
				_ = f.Dump()
			}
		}()
	}
	wg.Wait()
	if d := f.Dump(); d != "" {
		t.Errorf("entries left:\n%s", d)
	}
}
