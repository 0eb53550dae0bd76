package sysctl

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
)

// kubeProxyDefaults is kube-proxy v1.37's conntrack configuration when the
// file leaves the section null, as kubeadm's config.conf does
// (pkg/proxy/apis/config/v1alpha1/defaults.go).
func kubeProxyDefaults(mutate ...func(*Conntrack)) Conntrack {
	c := Conntrack{MaxPerCore: 32768, Min: 131072, TCPEstablishedTimeout: 24 * time.Hour, TCPCloseWaitTimeout: time.Hour}
	for _, m := range mutate {
		m(&c)
	}
	return c
}

// TestConntrackMax covers kube-proxy's getConntrackMax: the product, the
// floor, the cap and maxPerCore 0.
func TestConntrackMax(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Conntrack
		cpus int
		want int
	}{
		{name: "defaults, 2 CPUs: the floor", c: kubeProxyDefaults(), cpus: 2, want: 131072},
		{name: "defaults, 4 CPUs: the floor equals the product", c: kubeProxyDefaults(), cpus: 4, want: 131072},
		{name: "defaults, 8 CPUs: the product", c: kubeProxyDefaults(), cpus: 8, want: 262144},
		{name: "defaults, 64 CPUs: capped at 1Mi", c: kubeProxyDefaults(), cpus: 64, want: 1 << 20},
		{name: "cap wins over a larger min", c: Conntrack{MaxPerCore: 1 << 20, Min: 1 << 22}, cpus: 2, want: 1 << 20},
		{name: "min above the cap when the product is below it", c: Conntrack{MaxPerCore: 1, Min: 1 << 22}, cpus: 2, want: 1 << 22},
		{name: "maxPerCore 0 leaves the limit and ignores min", c: Conntrack{Min: 131072}, cpus: 2, want: 0},
		{name: "negative maxPerCore (refused by validation) sets nothing", c: Conntrack{MaxPerCore: -1, Min: 5}, cpus: 2, want: 0},
		{name: "no min", c: Conntrack{MaxPerCore: 1000}, cpus: 3, want: 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConntrackMax(tc.c, tc.cpus); got != tc.want {
				t.Errorf("ConntrackMax() = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestConntrackSettings covers kube-proxy's setSysctls: what is only
// raised, what is written either way, and what is left alone.
func TestConntrackSettings(t *testing.T) {
	debian := ConntrackCurrent{Max: 8192, Hashsize: 8192}
	for _, tc := range []struct {
		name string
		c    Conntrack
		cpus int
		cur  ConntrackCurrent
		want []string // name=value
	}{
		{name: "kubeadm defaults on a 2-CPU VM", c: kubeProxyDefaults(), cpus: 2, cur: debian, want: []string{
			ConntrackMaxName + "=131072", ConntrackHashsizeName + "=32768",
			ConntrackTCPEstablishedName + "=86400", ConntrackTCPCloseWaitName + "=3600"}},
		{name: "max and hash size already larger: never lowered", c: kubeProxyDefaults(), cpus: 2,
			cur: ConntrackCurrent{Max: 1 << 20, Hashsize: 1 << 18}, want: []string{
				ConntrackTCPEstablishedName + "=86400", ConntrackTCPCloseWaitName + "=3600"}},
		{name: "max equal: not written; hash size still raised", c: kubeProxyDefaults(), cpus: 2,
			cur: ConntrackCurrent{Max: 131072, Hashsize: 1024}, want: []string{
				ConntrackHashsizeName + "=32768", ConntrackTCPEstablishedName + "=86400", ConntrackTCPCloseWaitName + "=3600"}},
		{name: "unreadable max is written; unreadable hash size is not", c: kubeProxyDefaults(), cpus: 2,
			cur: ConntrackCurrent{Max: -1, Hashsize: -1}, want: []string{
				ConntrackMaxName + "=131072", ConntrackTCPEstablishedName + "=86400", ConntrackTCPCloseWaitName + "=3600"}},
		{name: "maxPerCore 0: limit and hash size left alone", c: kubeProxyDefaults(func(c *Conntrack) { c.MaxPerCore = 0 }),
			cpus: 2, cur: debian, want: []string{ConntrackTCPEstablishedName + "=86400", ConntrackTCPCloseWaitName + "=3600"}},
		{name: "timeouts in whole seconds; 0 leaves them", c: Conntrack{TCPEstablishedTimeout: 90*time.Second + 999*time.Millisecond,
			UDPTimeout: 30 * time.Second, UDPStreamTimeout: 2 * time.Minute}, cpus: 2, cur: debian, want: []string{
			ConntrackTCPEstablishedName + "=90", ConntrackUDPTimeoutName + "=30", ConntrackUDPTimeoutStreamName + "=120"}},
		{name: "be liberal", c: Conntrack{TCPBeLiberal: true}, cpus: 2, cur: debian, want: []string{ConntrackTCPBeLiberalName + "=1"}},
		{name: "nothing configured", c: Conntrack{}, cpus: 2, cur: debian, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range ConntrackSettings(tc.c, tc.cpus, tc.cur) {
				got = append(got, s.Name+"="+s.Value)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ConntrackSettings() (-want +got):\n%s", diff)
			}
		})
	}
}

// conntrackNode is a node with nf_conntrack loaded at the defaults
// measured in the test VM (Debian's 6.1 kernel, 1 GiB, 2 CPUs).
func conntrackNode() *Fake {
	return NewFake(map[string]string{
		ConntrackMaxName:              "8192",
		ConntrackHashsizeName:         "8192",
		ConntrackTCPEstablishedName:   "432000",
		ConntrackTCPCloseWaitName:     "60",
		ConntrackTCPBeLiberalName:     "0",
		ConntrackUDPTimeoutName:       "30",
		ConntrackUDPTimeoutStreamName: "120",
	})
}

// TestConntrackThroughFake runs the daemon's sequence (ReadConntrack,
// ConntrackSettings, Ensure) on the fake: the values written, that a
// second run writes nothing, and a read-only /proc/sys reported as such.
func TestConntrackThroughFake(t *testing.T) {
	erofs := &fs.PathError{Op: "open", Path: "/proc/sys/net/netfilter/nf_conntrack_max", Err: syscall.EROFS}
	apply := func(f *Fake) ([]Drift, error) {
		cur, readErr := ReadConntrack(f)
		drift, err := Ensure(f, ConntrackSettings(kubeProxyDefaults(), 2, cur))
		return drift, errors.Join(readErr, err)
	}

	f := conntrackNode()
	if _, err := apply(f); err != nil {
		t.Fatal(err)
	}
	want := "module.nf_conntrack.parameters.hashsize = 32768\nnet.netfilter.nf_conntrack_max = 131072\n" +
		"net.netfilter.nf_conntrack_tcp_be_liberal = 0\nnet.netfilter.nf_conntrack_tcp_timeout_close_wait = 3600\n" +
		"net.netfilter.nf_conntrack_tcp_timeout_established = 86400\nnet.netfilter.nf_conntrack_udp_timeout = 30\n" +
		"net.netfilter.nf_conntrack_udp_timeout_stream = 120\n"
	if diff := cmp.Diff(want, f.Dump()); diff != "" {
		t.Errorf("after the first run (-want +got):\n%s", diff)
	}
	f.ResetCalls()
	if drift, err := apply(f); err != nil || len(drift) != 0 || f.Writes() != 0 {
		t.Errorf("second run: drift %v, err %v, %d writes; want none", drift, err, f.Writes())
	}

	ro := conntrackNode()
	ro.Fail(CallSet, fault.Rule{Err: erofs})
	drift, err := apply(ro)
	if len(drift) != 4 || !IsReadOnly(err) || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("read-only: drift %v, err %v; want 4 drifted and a read-only error", drift, err)
	}
	if got, _ := ro.Get(ConntrackMaxName); got != "8192" {
		t.Errorf("read-only: nf_conntrack_max = %s, want 8192 unchanged", got)
	}

	noHash := conntrackNode()
	noHash.Remove(ConntrackHashsizeName)
	if _, err := apply(noHash); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "hash size") {
		t.Errorf("no hash size: err %v, want a not-exist error naming the hash size", err)
	}
	if got, _ := noHash.Get(ConntrackTCPEstablishedName); got != "86400" {
		t.Errorf("no hash size: the other settings must still be applied, established = %s", got)
	}
}

// TestProcModuleParameter: module parameters live under ModuleRoot, not
// Root.
func TestProcModuleParameter(t *testing.T) {
	root := procTree(t, map[string]string{"net.netfilter.nf_conntrack_max": "65536\n"})
	mods := procTree(t, map[string]string{"nf_conntrack.parameters.hashsize": "16384\n"})
	p := &Proc{Root: root, ModuleRoot: mods}
	if v, err := p.Get(ConntrackHashsizeName); err != nil || v != "16384" {
		t.Fatalf("Get(hashsize) = %q, %v; want 16384", v, err)
	}
	if err := p.Set(ConntrackHashsizeName, "32768"); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Get(ConntrackHashsizeName); v != "32768" {
		t.Errorf("after Set, hashsize = %q, want 32768", v)
	}
	if _, err := (&Proc{Root: root, ModuleRoot: root}).Get(ConntrackHashsizeName); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("hashsize looked up outside ModuleRoot: %v", err)
	}
}
