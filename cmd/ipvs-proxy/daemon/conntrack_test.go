package daemon

import (
	"bytes"
	"context"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// conntrackParams are the conntrack parameters measured in the test VM
// (Debian's 6.1 kernel, 1 GiB, 2 CPUs) before any proxy ran.
var conntrackParams = map[string]string{
	sysctl.ConntrackMaxName:              "8192",
	sysctl.ConntrackHashsizeName:         "8192",
	sysctl.ConntrackTCPEstablishedName:   "432000",
	sysctl.ConntrackTCPCloseWaitName:     "60",
	sysctl.ConntrackTCPBeLiberalName:     "0",
	sysctl.ConntrackUDPTimeoutName:       "30",
	sysctl.ConntrackUDPTimeoutStreamName: "120",
}

// kubeadmConntrack is what kubeadm's config.conf (every conntrack field
// null) gives, kube-proxy's defaults.
var kubeadmConntrack = sysctl.Conntrack{MaxPerCore: 32768, Min: 131072, TCPEstablishedTimeout: 24 * time.Hour, TCPCloseWaitTimeout: time.Hour}

// TestInitConntrack: the daemon's start (and --init-only) sets what
// kube-proxy would; a read-only /proc/sys is reported, not fatal; a dry
// run only says what it would set.
func TestInitConntrack(t *testing.T) {
	erofs := &fs.PathError{Op: "open", Path: "/proc/sys/net/netfilter/nf_conntrack_max", Err: syscall.EROFS}
	for _, tc := range []struct {
		name    string
		cfg     Config
		inject  func(*sysctl.Fake)
		want    map[string]string // changed from conntrackParams
		wantLog []string
	}{
		{name: "kubeadm defaults, 2 CPUs: the floor", cfg: Config{Conntrack: kubeadmConntrack, CPUs: 2},
			want: map[string]string{sysctl.ConntrackMaxName: "131072", sysctl.ConntrackHashsizeName: "32768",
				sysctl.ConntrackTCPEstablishedName: "86400", sysctl.ConntrackTCPCloseWaitName: "3600"},
			wantLog: []string{`"Set conntrack parameter" name="net.netfilter.nf_conntrack_max" found="8192" value="131072" cpus=2`}},
		{name: "kubeadm defaults, 16 CPUs: the product", cfg: Config{Conntrack: kubeadmConntrack, CPUs: 16},
			want: map[string]string{sysctl.ConntrackMaxName: "524288", sysctl.ConntrackHashsizeName: "131072",
				sysctl.ConntrackTCPEstablishedName: "86400", sysctl.ConntrackTCPCloseWaitName: "3600"}},
		{name: "nothing configured: nothing touched", cfg: Config{CPUs: 2}},
		{name: "read-only /proc/sys: reported, start goes on", cfg: Config{Conntrack: kubeadmConntrack, CPUs: 2},
			inject: func(f *sysctl.Fake) { f.Fail(sysctl.CallSet, fault.Rule{Subject: sysctl.ConntrackMaxName, Err: erofs}) },
			want: map[string]string{sysctl.ConntrackHashsizeName: "32768",
				sysctl.ConntrackTCPEstablishedName: "86400", sysctl.ConntrackTCPCloseWaitName: "3600"},
			wantLog: []string{`"Could not set conntrack parameters from the configuration; the kernel keeps its values for those" err="open /proc/sys/net/netfilter/nf_conntrack_max: read-only file system" readOnly=true`}},
		{name: "dry run: logged, not written", cfg: Config{Conntrack: kubeadmConntrack, CPUs: 2, DryRun: true},
			wantLog: []string{`"Would set conntrack parameter (dry run)" name="module.nf_conntrack.parameters.hashsize" found="8192" want="32768"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sysctl.NewFake(conntrackParams)
			s.Seed(sysctl.OSReleaseName, "6.1.0-test")
			if tc.inject != nil {
				tc.inject(s)
			}
			var logs bytes.Buffer
			ctx := klog.NewContext(context.Background(), textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(&logs))))
			a := Adapters{IPVS: ipvs.NewFake(), Addresses: addr.NewFake(addr.Config{}), Netfilter: netfilter.NewFake(),
				Conntrack: conntrack.NewFake(), Sysctl: s}
			if err := Init(ctx, tc.cfg, a); err != nil {
				t.Fatalf("Init: %v", err)
			}
			got := map[string]string{}
			for name, before := range conntrackParams {
				if v, _ := s.Get(name); v != before {
					got[name] = v
				}
			}
			if diff := cmp.Diff(tc.want, got, cmpEmptyMap); diff != "" {
				t.Errorf("changed parameters (-want +got):\n%s", diff)
			}
			for _, w := range tc.wantLog {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %s:\n%s", w, logs.String())
				}
			}
		})
	}
}

// cmpEmptyMap treats a nil and an empty map as equal.
var cmpEmptyMap = cmp.FilterValues(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 },
	cmp.Comparer(func(a, b map[string]string) bool { return true }))
