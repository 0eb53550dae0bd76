package daemon

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/kubeproxy"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

func TestCleanupRemovesOnlyOurs(t *testing.T) {
	vsOf := func(s string, port uint16) *model.Service {
		return &model.Service{VirtualServer: model.VirtualServer{VSKey: model.VSKey{Addr: netip.MustParseAddr(s), Port: port, Proto: model.TCP}, Scheduler: "rr"}}
	}
	v := ipvs.NewFake()
	v.Seed(vsOf("198.18.0.10", 80), vsOf("198.18.1.1", 30080), vsOf("198.18.1.1", 22), vsOf("198.18.50.1", 80), vsOf("198.18.200.1", 80))
	a := addr.NewFake(addr.Config{})
	a.SeedInterface(netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.200.1"))
	a.SetHostAddresses(netip.MustParseAddr("198.18.1.1"))
	nf := netfilter.NewFake()
	if err := nf.Apply(&model.Netfilter{MasqueradeAll: true}); err != nil {
		t.Fatal(err)
	}
	kp := kubeproxy.NewFake()
	kp.SeedKubeProxy(kubeproxy.NFT, kubeproxy.IPv4)
	kp.AddJump(kubeproxy.NFT, kubeproxy.IPv4, "filter", "INPUT", "KUBE-FIREWALL", "")
	owner := reconcile.Owner{ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.200.0/24")}}
	err := Cleanup(context.Background(), Adapters{IPVS: v, Addresses: a, Netfilter: nf, Conntrack: conntrack.NewFake(), KubeProxy: kp}, owner, true)
	if err != nil {
		t.Fatal(err)
	}
	got := v.Dump()
	for _, keep := range []string{"198.18.1.1:22", "198.18.50.1:80", "198.18.200.1:80"} {
		if !strings.Contains(got, keep) {
			t.Errorf("removed foreign or excluded %s", keep)
		}
	}
	for _, gone := range []string{"198.18.0.10:80", "198.18.1.1:30080"} {
		if strings.Contains(got, gone) {
			t.Errorf("kept our %s", gone)
		}
	}
	if _, err := a.List(); err == nil {
		t.Error("dummy interface still exists")
	}
	if strings.TrimSpace(nf.Dump()) != "" {
		t.Errorf("netfilter tables left: %q", nf.Dump())
	}
	// kubelet's chain stays; kube-proxy's chains and sets are gone.
	if got, want := kp.Dump(), "nft ip filter chain KUBE-FIREWALL\nnft ip filter rule INPUT -j KUBE-FIREWALL\n"; got != want {
		t.Errorf("kube-proxy leftovers:\n%s\nwant:\n%s", got, want)
	}
}

func TestCleanupKubeProxyLeftovers(t *testing.T) {
	seeded := func() *kubeproxy.Fake {
		kp := kubeproxy.NewFake()
		kp.SeedKubeProxy(kubeproxy.NFT, kubeproxy.IPv4)
		return kp
	}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name       string
		kp         *kubeproxy.Fake
		flag       bool
		failWith   error
		wantCalls  int
		wantErr    error
		wantKPLeft bool
	}{
		{name: "removed with --cleanup-kube-proxy", kp: seeded(), flag: true, wantCalls: 1},
		{name: "left without --cleanup-kube-proxy", kp: seeded(), flag: false, wantKPLeft: true},
		{name: "no adapter", flag: true},
		{name: "an error fails the cleanup, after ours", kp: seeded(), flag: true, failWith: boom, wantCalls: 1, wantErr: boom, wantKPLeft: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := addr.NewFake(addr.Config{})
			a.SeedInterface(netip.MustParseAddr("198.18.0.10"))
			ad := Adapters{IPVS: ipvs.NewFake(), Addresses: a, Netfilter: netfilter.NewFake(), Conntrack: conntrack.NewFake()}
			if tc.kp != nil {
				ad.KubeProxy = tc.kp
				if tc.failWith != nil {
					tc.kp.Fail(kubeproxy.CallCleanupLeftovers, fault.Rule{Err: tc.failWith, Times: 1})
				}
			}
			err := Cleanup(context.Background(), ad, reconcile.Owner{}, tc.flag)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if _, err := a.List(); err == nil {
				t.Error("our dummy interface was not removed")
			}
			if tc.kp == nil {
				return
			}
			if got := tc.kp.Calls(kubeproxy.CallCleanupLeftovers); got != tc.wantCalls {
				t.Errorf("CleanupLeftovers called %d times, want %d", got, tc.wantCalls)
			}
			if left := strings.Contains(tc.kp.Dump(), "KUBE-SERVICES"); left != tc.wantKPLeft {
				t.Errorf("kube-proxy's chains left = %v, want %v:\n%s", left, tc.wantKPLeft, tc.kp.Dump())
			}
		})
	}
}

// TestCleanupKubeProxyOnly: --cleanup-kube-proxy without --cleanup removes
// kube-proxy's chains, jumps and sets of both families and keeps kubelet's
// chain; it returns the adapter's error and refuses a nil adapter.
func TestCleanupKubeProxyOnly(t *testing.T) {
	seeded := func() *kubeproxy.Fake {
		kp := kubeproxy.NewFake()
		kp.SeedKubeProxy(kubeproxy.NFT, kubeproxy.IPv4)
		kp.SeedKubeProxy(kubeproxy.NFT, kubeproxy.IPv6)
		kp.AddJump(kubeproxy.NFT, kubeproxy.IPv4, "filter", "INPUT", "KUBE-FIREWALL", "")
		return kp
	}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		failWith error
		wantErr  error
		wantLeft string
	}{
		{name: "removed", wantLeft: "nft ip filter chain KUBE-FIREWALL\nnft ip filter rule INPUT -j KUBE-FIREWALL\n"},
		{name: "error", failWith: boom, wantErr: boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kp := seeded()
			before := kp.Dump()
			if tc.failWith != nil {
				kp.Fail(kubeproxy.CallCleanupLeftovers, fault.Rule{Err: tc.failWith, Times: 1})
			}
			err := CleanupKubeProxyOnly(context.Background(), kp)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if got := kp.Calls(kubeproxy.CallCleanupLeftovers); got != 1 {
				t.Errorf("CleanupLeftovers called %d times, want 1", got)
			}
			want := tc.wantLeft
			if tc.wantErr != nil {
				want = before
			}
			if got := kp.Dump(); got != want {
				t.Errorf("left:\n%s\nwant:\n%s", got, want)
			}
		})
	}
	if err := CleanupKubeProxyOnly(context.Background(), nil); err == nil {
		t.Error("a nil adapter: no error")
	}
}
