package ipvs

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

var (
	vs4  = makeVS("198.18.0.10", 80)
	vs6  = makeVS("fd00::10", 53, withProto(model.UDP))
	rs4a = makeRS("198.18.1.1", 8080)
	rs4b = makeRS("198.18.1.2", 8080)
	rs6  = makeRS("fd00::1:1", 5353)
)

func TestFakeErrorSemantics(t *testing.T) {
	seed := []*model.Service{makeService(vs4, rs4a), makeService(vs6)}
	tests := []struct {
		name     string
		op       func(f *Fake) error
		wantErr  error // nil: success
		wantDump []string
	}{
		{
			name:    "add existing virtual server",
			op:      func(f *Fake) error { return f.AddVirtualServer(vs4) },
			wantErr: ErrExists,
		},
		{
			name:    "update missing virtual server",
			op:      func(f *Fake) error { return f.UpdateVirtualServer(makeVS("198.18.0.99", 80)) },
			wantErr: ErrNotFound,
		},
		{
			name: "delete missing virtual server is nil",
			op:   func(f *Fake) error { return f.DeleteVirtualServer(makeVS("198.18.0.99", 80).VSKey) },
		},
		{
			name:    "add existing real server",
			op:      func(f *Fake) error { return f.AddRealServer(vs4.VSKey, rs4a) },
			wantErr: ErrExists,
		},
		{
			name:    "add real server to missing virtual server",
			op:      func(f *Fake) error { return f.AddRealServer(makeVS("198.18.0.99", 80).VSKey, rs4a) },
			wantErr: ErrNotFound,
		},
		{
			name:    "update missing real server",
			op:      func(f *Fake) error { return f.UpdateRealServer(vs4.VSKey, rs4b) },
			wantErr: ErrNotFound,
		},
		{
			name: "delete missing real server is nil",
			op:   func(f *Fake) error { return f.DeleteRealServer(vs4.VSKey, rs4b.RSKey) },
		},
		{
			name: "delete real server of missing virtual server is nil",
			op:   func(f *Fake) error { return f.DeleteRealServer(makeVS("198.18.0.99", 80).VSKey, rs4b.RSKey) },
		},
		{
			name:    "mixed families",
			op:      func(f *Fake) error { return f.AddRealServer(vs6.VSKey, rs4b) },
			wantErr: ErrInvalid,
		},
		{
			name:    "negative weight",
			op:      func(f *Fake) error { return f.UpdateRealServer(vs4.VSKey, makeRS("198.18.1.1", 8080, -1)) },
			wantErr: ErrInvalid,
		},
		{
			name:    "persistence without timeout",
			op:      func(f *Fake) error { return f.AddVirtualServer(makeVS("198.18.0.11", 80, withPersistence(0))) },
			wantErr: ErrInvalid,
		},
		{
			name:    "unknown scheduler",
			op:      func(f *Fake) error { return f.AddVirtualServer(makeVS("198.18.0.11", 80, withSched("nope", 0))) },
			wantErr: ErrSchedulerMissing,
		},
		{
			name:    "unknown flag bits",
			op:      func(f *Fake) error { return f.AddVirtualServer(makeVS("198.18.0.11", 80, withSched("sh", 0x2))) },
			wantErr: ErrInvalid,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake()
			f.Seed(seed...)
			before := f.Dump()
			err := tc.op(f)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want one wrapping %v", err, tc.wantErr)
			}
			if after := f.Dump(); after != before {
				t.Errorf("state changed:\n%s", cmp.Diff(before, after))
			}
			if got := f.Writes(); got != 1 {
				t.Errorf("Writes() = %d, want 1 (failed calls count)", got)
			}
		})
	}
}

func TestFakeWrites(t *testing.T) {
	tests := []struct {
		name string
		op   func(f *Fake) error
		want string
	}{
		{
			name: "add virtual servers of every kind",
			op: func(f *Fake) error {
				return errors.Join(
					f.AddVirtualServer(makeVS("198.18.0.10", 443, withSched("sh", model.FlagSched1|model.FlagSched2))),
					f.AddVirtualServer(makeVS("fd00::10", 80, withProto(model.SCTP), withSched("mh", model.FlagSched2))),
					f.AddVirtualServer(makeVS("198.18.0.11", 53, withProto(model.UDP), withPersistence(10800))),
				)
			},
			want: `-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.1:8080 -m -w 1
-A -t 198.18.0.10:443 -s sh -b sh-fallback,sh-port
-A -u 198.18.0.11:53 -s rr -p 10800
-A --sctp-service [fd00::10]:80 -s mh -b mh-port
`,
		},
		{
			name: "update virtual server and weights",
			op: func(f *Fake) error {
				return errors.Join(
					f.UpdateVirtualServer(makeVS("198.18.0.10", 80, withSched("wrr", 0), withPersistence(60))),
					f.AddRealServer(vs4.VSKey, rs4b),
					f.UpdateRealServer(vs4.VSKey, makeRS("198.18.1.1", 8080, 0)),
				)
			},
			want: `-A -t 198.18.0.10:80 -s wrr -p 60
-a -t 198.18.0.10:80 -r 198.18.1.1:8080 -m -w 0
-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 1
`,
		},
		{
			name: "delete real server then virtual server",
			op: func(f *Fake) error {
				return errors.Join(
					f.AddVirtualServer(vs6),
					f.AddRealServer(vs6.VSKey, rs6),
					f.DeleteRealServer(vs4.VSKey, rs4a.RSKey),
					f.DeleteVirtualServer(vs6.VSKey),
				)
			},
			want: "-A -t 198.18.0.10:80 -s rr\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake()
			f.Seed(makeService(vs4, rs4a))
			if err := tc.op(f); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, f.Dump()); diff != "" {
				t.Errorf("Dump() mismatch (-want +got):\n%s", diff)
			}
			list, err := f.ListServices()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, dumpServices(list)); diff != "" {
				t.Errorf("ListServices() disagrees with Dump() (-want +got):\n%s", diff)
			}
		})
	}
}

// dumpServices formats listed services as Fake.Dump does.
func dumpServices(svcs []*model.Service) string {
	st := model.NewState()
	for _, s := range svcs {
		st.Services[s.VSKey] = s
	}
	var b strings.Builder
	for _, l := range st.IPVSLines() {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func TestFakeListReturnsCopies(t *testing.T) {
	f := NewFake()
	f.Seed(makeService(vs4, rs4a))
	list, _ := f.ListServices()
	list[0].Reals[0].Weight = 7
	list[0].Scheduler = "wrr"
	other := f.Services()
	other[0].Reals[0].Weight = 9
	if got, want := f.Dump(), "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.1:8080 -m -w 1\n"; got != want {
		t.Errorf("mutating a listed service changed the Fake:\n%s", got)
	}
	if got := f.Reads() + f.Writes(); got != 1 || f.Calls(CallListServices) != 1 {
		t.Errorf("%d calls, %d ListServices: Services() counted a call", got, f.Calls(CallListServices))
	}
}

// Faults select calls by name and by the virtual or real server they
// concern; failed calls change nothing and are counted.
func TestFakeInjection(t *testing.T) {
	boom := errors.New("boom")
	other := makeVS("198.18.0.20", 80)
	f := NewFake()
	f.Seed(makeService(vs4), makeService(other))
	f.Fail(CallAddRealServer, fault.Rule{Subject: vs4.VSKey.String(), Err: boom})

	if err := f.AddRealServer(vs4.VSKey, rs4a); !errors.Is(err, boom) {
		t.Errorf("AddRealServer on injected VS = %v, want boom", err)
	}
	if err := f.AddRealServer(other.VSKey, rs4a); err != nil {
		t.Errorf("AddRealServer on another VS = %v, want nil", err)
	}
	f.Fail(CallListServices, fault.Rule{Err: boom})
	if _, err := f.ListServices(); !errors.Is(err, boom) {
		t.Errorf("ListServices = %v, want boom", err)
	}

	f.ClearFaults()
	// A real server by its key, on any virtual server, twice.
	f.Fail(CallAddRealServer, fault.Rule{Subject: rs4a.RSKey.String(), Err: boom, Times: 2})
	var errs []error
	for range 3 {
		errs = append(errs, f.AddRealServer(vs4.VSKey, rs4a))
	}
	if !errors.Is(errs[0], boom) || !errors.Is(errs[1], boom) || errs[2] != nil {
		t.Errorf("AddRealServer results = %v, want boom, boom, nil", errs)
	}
	if f.Calls(CallAddRealServer) != 5 || f.Calls(CallListServices) != 1 || f.Reads() != 1 {
		t.Errorf("calls: AddRealServer %d, ListServices %d, reads %d; want 5, 1, 1",
			f.Calls(CallAddRealServer), f.Calls(CallListServices), f.Reads())
	}
	if got := f.Writes(); got != 5 {
		t.Errorf("Writes() = %d, want 5", got)
	}
	if got := f.Injected(); got != 4 {
		t.Errorf("Injected() = %d, want 4", got)
	}
	f.ResetCalls()
	if got := f.Writes(); got != 0 {
		t.Errorf("Writes() after ResetCalls = %d", got)
	}
}

func TestFakeStats(t *testing.T) {
	f := NewFake()
	f.Seed(makeService(vs4, rs4a, rs4b))
	if err := f.SetStats(vs4.VSKey, rs4a.RSKey, model.RealServerStats{ActiveConns: 3, InactiveConns: 4}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetStats(vs4.VSKey, rs6.RSKey, model.RealServerStats{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetStats on a missing real server = %v, want ErrNotFound", err)
	}
	// A weight change keeps the counters, as in the kernel.
	if err := f.UpdateRealServer(vs4.VSKey, makeRS("198.18.1.1", 8080, 0)); err != nil {
		t.Fatal(err)
	}
	got, err := f.RealServerStats(vs4.VSKey)
	if err != nil {
		t.Fatal(err)
	}
	want := map[model.RSKey]model.RealServerStats{
		rs4a.RSKey: {ActiveConns: 3, InactiveConns: 4},
		rs4b.RSKey: {},
	}
	if diff := cmp.Diff(want, got, cmpAddrs); diff != "" {
		t.Errorf("RealServerStats mismatch (-want +got):\n%s", diff)
	}
	if got, err := f.RealServerStats(vs6.VSKey); err != nil || len(got) != 0 {
		t.Errorf("RealServerStats of a missing VS = %v, %v; want empty, nil", got, err)
	}
}

func TestFakeTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		set     Timeouts
		want    Timeouts
		wantErr error
	}{
		{name: "zero keeps all", set: Timeouts{}, want: DefaultTimeouts},
		{
			name: "set some",
			set:  Timeouts{TCP: time.Hour, UDP: 1500 * time.Millisecond},
			want: Timeouts{TCP: time.Hour, TCPFin: DefaultTimeouts.TCPFin, UDP: time.Second},
		},
		{name: "sub-second", set: Timeouts{TCPFin: time.Millisecond}, want: DefaultTimeouts, wantErr: ErrInvalid},
		{name: "negative", set: Timeouts{UDP: -time.Second}, want: DefaultTimeouts, wantErr: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake()
			if err := f.SetTimeouts(tc.set); !errors.Is(err, tc.wantErr) {
				t.Fatalf("SetTimeouts = %v, want %v", err, tc.wantErr)
			}
			got, err := f.Timeouts()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Timeouts() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := NewFake()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs := makeVS("198.18.0.10", uint16(1000+i))
			for j := range 50 {
				_ = f.AddVirtualServer(vs)
				_ = f.AddRealServer(vs.VSKey, makeRS("198.18.2.1", uint16(j+1)))
				_, _ = f.ListServices()
				_ = f.DeleteRealServer(vs.VSKey, makeRS("198.18.2.1", uint16(j+1)).RSKey)
			}
		}()
	}
	wg.Wait()
	if got := strings.Count(f.Dump(), "-A "); got != 8 {
		t.Errorf("got %d virtual servers, want 8:\n%s", got, f.Dump())
	}
	if got := f.Calls(CallAddRealServer); got != 400 {
		t.Errorf("AddRealServer calls = %d, want 400", got)
	}
}

func TestFakeApplyBatch(t *testing.T) {
	f := NewFake()
	f.Seed(makeService(vs4, rs4a))
	ops := []model.Op{
		{Kind: model.OpAddVirtualServer, VS: vs6},
		{Kind: model.OpAddRealServer, VS: vs6, RS: rs6},
		{Kind: model.OpAddRealServer, VS: vs4, RS: rs4a}, // exists
		{Kind: model.OpBindAddress, Addr: vs4.Addr},      // not IPVS
		{Kind: model.OpUpdateRealServer, VS: vs4, RS: makeRS("198.18.1.1", 8080, 0)},
		{Kind: model.OpDeleteRealServer, VS: vs4, RS: rs4b}, // missing: nil
	}
	errs := f.ApplyBatch(ops)
	want := []error{nil, nil, ErrExists, ErrInvalid, nil, nil}
	for i := range ops {
		if (want[i] == nil && errs[i] != nil) || !errors.Is(errs[i], want[i]) {
			t.Errorf("op %d (%s): err = %v, want %v", i, ops[i].Kind, errs[i], want[i])
		}
	}
	wantDump := `-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.1:8080 -m -w 0
-A -u [fd00::10]:53 -s rr
-a -u [fd00::10]:53 -r [fd00::1:1]:5353 -m -w 1
`
	if diff := cmp.Diff(wantDump, f.Dump()); diff != "" {
		t.Errorf("Dump() mismatch (-want +got):\n%s", diff)
	}
	wantCalls := map[Call]int{CallApplyBatch: 1, CallAddVirtualServer: 1, CallAddRealServer: 2,
		CallUpdateRealServer: 1, CallDeleteRealServer: 1}
	for c, n := range wantCalls {
		if got := f.Calls(c); got != n {
			t.Errorf("Calls(%s) = %d, want %d", c, got, n)
		}
	}
	// The batch is neither a read nor a write: its operations are.
	if r, w := f.Reads(), f.Writes(); r != 0 || w != 5 {
		t.Errorf("%d reads, %d writes; want 0, 5", r, w)
	}

	f.Fail(CallApplyBatch, fault.Rule{Err: errors.New("down")})
	before := f.Dump()
	for i, err := range f.ApplyBatch(ops[:2]) {
		if err == nil {
			t.Errorf("op %d succeeded despite the injected error", i)
		}
	}
	if f.Dump() != before {
		t.Error("a failed batch changed the table")
	}
}
