package netfilter

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func TestFakeApplyVerifyCleanup(t *testing.T) {
	f := NewFake()
	n := flowIntent()
	if err := f.Verify(n); !errors.Is(err, ErrDrift) {
		t.Errorf("Verify before Apply = %v, want ErrDrift", err)
	}
	if err := f.Apply(n); err != nil {
		t.Fatal(err)
	}
	if err := f.Verify(n); err != nil {
		t.Errorf("Verify after Apply: %v", err)
	}
	// The fake keeps a copy: changing the caller's intent changes nothing.
	n.Ports[0].SourceRanges = append(n.Ports[0].SourceRanges, netip.MustParsePrefix("198.18.0.0/16"))
	if err := f.Verify(flowIntent()); err != nil {
		t.Errorf("Verify after the caller changed its intent: %v", err)
	}
	f.Tamper(func(n *model.Netfilter) { n.Ports = n.Ports[1:] })
	if err := f.Verify(flowIntent()); !errors.Is(err, ErrDrift) {
		t.Errorf("Verify after Tamper = %v, want ErrDrift", err)
	}
	if err := f.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if f.Applied() != nil || f.Dump() != "" {
		t.Errorf("after Cleanup: applied %v, dump %q; want nothing", f.Applied(), f.Dump())
	}
	if err := f.Verify(&model.Netfilter{}); err != nil {
		t.Errorf("Verify(empty) after Cleanup: %v", err)
	}
}

func TestFakeEmptyIntentRemovesTables(t *testing.T) {
	f := NewFake()
	if err := f.Apply(flowIntent()); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(&model.Netfilter{MasqueradeAll: true}); err != nil {
		t.Fatal(err)
	}
	if f.Applied() != nil {
		t.Errorf("an intent without addresses left tables: %v", f.Dump())
	}
}

func TestFakeErrorInjection(t *testing.T) {
	f := NewFake()
	boom := errors.New("boom")
	f.Fail(CallApply, fault.Rule{Err: boom, Times: 1})
	if err := f.Apply(flowIntent()); !errors.Is(err, boom) {
		t.Fatalf("Apply = %v, want the injected error", err)
	}
	if f.Applied() != nil {
		t.Errorf("a failed Apply changed the state: %s", f.Dump())
	}
	if err := f.Apply(flowIntent()); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	f.Fail(CallCleanup, fault.Rule{Err: boom, Times: 1})
	if err := f.Cleanup(); !errors.Is(err, boom) {
		t.Fatalf("Cleanup = %v, want the injected error", err)
	}
	if f.Applied() == nil {
		t.Errorf("a failed Cleanup removed the tables")
	}
	for m, want := range map[Call]int{CallApply: 2, CallCleanup: 1, CallSnapshot: 0, CallProbe: 0} {
		if got := f.Calls(m); got != want {
			t.Errorf("Calls(%s) = %d, want %d", m, got, want)
		}
	}
}

func TestFakeConcurrentUse(t *testing.T) {
	f := NewFake()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				_ = f.Apply(flowIntent())
				_ = f.Verify(flowIntent())
				_ = f.Dump()
				if i%2 == 0 {
					_ = f.Cleanup()
				}
			}
		}()
	}
	wg.Wait()
	if got := f.Calls(CallApply); got != 160 {
		t.Errorf("Calls(Apply) = %d, want 160", got)
	}
}

func ExampleFake() {
	f := NewFake()
	n := &model.Netfilter{
		LocalCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		Ports: []model.ServicePort{{
			VSKey: model.VSKey{Addr: netip.MustParseAddr("198.18.6.1"), Port: 443, Proto: model.TCP},
			Kind:  model.KindLoadBalancer, Local: true,
			SourceRanges: []netip.Prefix{netip.MustParsePrefix("198.18.100.0/24")},
		}},
	}
	_ = f.Apply(n)
	fmt.Print(f.Dump())
	fmt.Println(f.Verify(n) == nil, f.Calls(CallApply))
	// Output:
	// masquerade-all false
	// local-cidr 10.244.0.0/16
	// port load-balancer tcp 198.18.6.1:443 local source-ranges 198.18.100.0/24
	// true 1
}

func ExampleTranslate() {
	n := &model.Netfilter{Ports: []model.ServicePort{{
		VSKey: model.VSKey{Addr: netip.MustParseAddr("10.96.0.1"), Port: 443, Proto: model.TCP},
		Kind:  model.KindClusterIP,
	}}}
	p := Translate(n, DefaultTableName)
	counts := p.ElementCount()
	fmt.Println(len(p.Tables), p.RuleCount(), counts["ip/service-ports"], counts["ip/cluster-ports"])
	// Output: 1 10 1 0
}

func TestFakeUpdate(t *testing.T) {
	f := NewFake()
	if err := f.Update(&model.Netfilter{}, flowIntent(), nil); err != nil {
		t.Fatalf("Update from no tables: %v", err)
	}
	more := flowIntent(withHairpin("tcp 10.244.1.8:8080"))
	if err := f.Update(flowIntent(), more, nil); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := f.Verify(more); err != nil {
		t.Errorf("Verify(new) after Update: %v", err)
	}
	boom := errors.New("boom")
	f.Fail(CallUpdate, fault.Rule{Err: boom, Times: 1})
	if err := f.Update(more, flowIntent(), nil); !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the injected error", err)
	}
	if err := f.Verify(more); err != nil {
		t.Errorf("a failed Update changed the state: %v", err)
	}
	// An old intent the fake does not hold breaks Update's contract.
	if err := f.Update(flowIntent(), flowIntent(), nil); !errors.Is(err, ErrDrift) {
		t.Errorf("Update from an intent not held = %v, want ErrDrift", err)
	}
	if err := f.Verify(more); err != nil {
		t.Errorf("a refused Update changed the state: %v", err)
	}
	if err := f.Update(more, &model.Netfilter{}, nil); err != nil || f.Applied() != nil {
		t.Errorf("Update to an empty intent: %v, applied %v; want no tables", err, f.Applied())
	}
	for m, want := range map[Call]int{CallUpdate: 5, CallApply: 0} {
		if got := f.Calls(m); got != want {
			t.Errorf("Calls(%s) = %d, want %d", m, got, want)
		}
	}
}

func ExampleDiff() {
	web := model.ServicePort{
		VSKey: model.VSKey{Addr: netip.MustParseAddr("10.96.0.1"), Port: 443, Proto: model.TCP},
		Kind:  model.KindClusterIP,
	}
	dns := model.ServicePort{
		VSKey: model.VSKey{Addr: netip.MustParseAddr("10.96.0.10"), Port: 53, Proto: model.UDP},
		Kind:  model.KindClusterIP,
	}
	old := &model.Netfilter{LocalCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, Ports: []model.ServicePort{web}}
	new := &model.Netfilter{LocalCIDRs: old.LocalCIDRs, Ports: []model.ServicePort{web, dns}}
	d, ok := Diff(old, new, nil, DefaultTableName)
	fmt.Print(ok, "\n", d)
	// Output:
	// true
	// + ip ipvs-proxy service-ips: 10.96.0.10
	// + ip ipvs-proxy service-ports: 10.96.0.10 . udp . 53
	// + ip ipvs-proxy cluster-ports: 10.96.0.10 . udp . 53
}
