package daemon

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi/kubeapitest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// withoutTwos is Debian 12's 6.1 kernel: every scheduler of Linux but twos.
var withoutTwos = slices.DeleteFunc(slices.Clone(ipvs.FakeSchedulers), func(s string) bool { return s == "twos" })

// TestCheckSchedulers: at start the daemon refuses a --ipvs-scheduler the
// kernel cannot run, with an error saying what it offers, and proves one it
// can by a virtual server added and deleted, as kube-proxy's
// CanUseIPVSProxier does (pkg/proxy/ipvs/supported.go), unless its module
// is loaded; annotations may then name what the kernel offers.
func TestCheckSchedulers(t *testing.T) {
	pod := ipvs.Schedulers{Names: []string{"rr", "wrr"}} // the DaemonSet's pod: loaded modules only
	tests := []struct {
		name        string
		scheduler   string
		kernel      []string        // what the fake kernel runs
		found       ipvs.Schedulers // what discovery sees
		seed        string          // the scheduler of a virtual server already there
		dryRun      bool
		wantErr     string
		wantMissing bool // the error wraps ipvs.ErrSchedulerMissing
		wantWrites  int
		wantAnn     []string // Config.Schedulers; nil: the found names
	}{
		{name: "default rr, proved", kernel: withoutTwos, found: ipvs.Schedulers{Names: withoutTwos, Complete: true}, wantWrites: 2},
		{name: "twos, outside kube-proxy's list, accepted when the kernel has it", scheduler: "twos",
			kernel: ipvs.FakeSchedulers, found: ipvs.Schedulers{Names: ipvs.FakeSchedulers, Complete: true}, wantWrites: 2},
		{name: "twos refused when the kernel lacks it, without a write", scheduler: "twos",
			kernel: withoutTwos, found: ipvs.Schedulers{Names: withoutTwos, Complete: true},
			wantErr: `--ipvs-scheduler (ipvs.scheduler) "twos": the kernel has no such IPVS scheduler (no module ip_vs_twos is loaded, built in or installed for the running kernel); it offers dh, fo, lblc`},
		{name: "an out-of-tree scheduler the kernel offers", scheduler: "mine",
			kernel: []string{"rr", "mine"}, found: ipvs.Schedulers{Names: []string{"mine", "rr"}, Complete: true}, wantWrites: 2},
		{name: "a restart over virtual servers using it (its module loaded) writes nothing", scheduler: "mh", seed: "mh",
			kernel: withoutTwos, found: ipvs.Schedulers{Names: withoutTwos, Complete: true, Loaded: []string{"mh", "rr"}}},
		{name: "a loaded module is not probed", scheduler: "wlc",
			kernel: withoutTwos, found: ipvs.Schedulers{Names: withoutTwos, Complete: true, Loaded: []string{"wlc"}}},
		{name: "pod without module files: mh not loaded yet is proved, and loaded by the probe", scheduler: "mh",
			kernel: withoutTwos, found: pod, wantWrites: 2, wantAnn: sortedSchedulers(proxier.Schedulers)},
		{name: "pod without module files: a scheduler the kernel cannot load is refused by the probe", scheduler: "twos",
			kernel: withoutTwos, found: pod, wantWrites: 1, wantErr: "scheduler module not loaded: ip_vs_twos", wantMissing: true},
		{name: "dry run: refused from the module files alone", scheduler: "twos", dryRun: true,
			kernel: withoutTwos, found: ipvs.Schedulers{Names: withoutTwos, Complete: true}, wantErr: "no such IPVS scheduler"},
		{name: "dry run: without module files nothing is written", scheduler: "twos", dryRun: true,
			kernel: withoutTwos, found: pod, wantAnn: sortedSchedulers(proxier.Schedulers)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := ipvs.NewFake()
			k.SetSchedulers(tc.kernel, tc.found)
			if tc.seed != "" {
				k.Seed(&model.Service{VirtualServer: model.VirtualServer{VSKey: model.VSKey{Addr: ipvs.ProbeKey.Addr, Port: 80, Proto: model.TCP}, Scheduler: tc.seed}})
			}
			d := &daemon{cfg: Config{Proxier: proxier.Config{Scheduler: tc.scheduler}, DryRun: tc.dryRun}, deps: Deps{Adapters: Adapters{IPVS: k}}}
			err := d.checkSchedulers(context.Background())
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("checkSchedulers = %v, want error %q", err, tc.wantErr)
			}
			if tc.wantMissing && !errors.Is(err, ipvs.ErrSchedulerMissing) {
				t.Errorf("error %v does not wrap ErrSchedulerMissing", err)
			}
			if w := k.Writes(); w != tc.wantWrites {
				t.Errorf("%d kernel writes, want %d", w, tc.wantWrites)
			}
			if n := k.Calls(ipvs.CallListVirtualServers) + k.Calls(ipvs.CallListServices); n != 0 {
				t.Errorf("IPVS listed %d times: the check must cost nothing per virtual server", n)
			}
			if tc.seed == "" && k.Dump() != "" {
				t.Errorf("the probe left:\n%s", k.Dump())
			}
			if err != nil {
				return
			}
			want := tc.wantAnn
			if want == nil {
				want = tc.found.Names
			}
			if got := d.cfg.Proxier.Schedulers; !slices.Equal(got, want) {
				t.Errorf("annotation schedulers %v, want %v", got, want)
			}
		})
	}
}

func sortedSchedulers(s []string) []string { return slices.Sorted(slices.Values(s)) }

// TestUnavailableAnnotatedScheduler: a Service annotated with a scheduler
// the node's kernel lacks gets the default scheduler and an event saying
// why, instead of a virtual server the kernel refuses.
func TestUnavailableAnnotatedScheduler(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	svc := k8stest.Service("ns", "web", k8stest.Annotate(proxier.AnnotationScheduler, "twos"))
	slice := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")})
	client := fake.NewClientset(node, svc, slice)
	k := ipvs.NewFake()
	k.SetSchedulers(withoutTwos, ipvs.Schedulers{Names: withoutTwos, Complete: true})
	cfg := Config{NodeName: "node-a", Node: testNode, SyncPeriod: time.Second, MinSyncPeriod: 10 * time.Millisecond,
		DrainPollInterval: 50 * time.Millisecond}
	ctx := startDaemon(t, cfg, Deps{Client: kubeapitest.FromClientset(client), Adapters: Adapters{IPVS: k,
		Addresses: addr.NewFake(addr.Config{}), Netfilter: netfilter.NewFake(), Conntrack: conntrack.NewFake()}})
	waitFor(t, func() bool { return strings.Contains(k.Dump(), "-A -t 198.18.0.10:80 -s rr") }, k.Dump)
	events := func() string {
		list, err := client.CoreV1().Events("ns").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		var out []string
		for _, e := range list.Items {
			out = append(out, e.InvolvedObject.Name+": "+e.Message)
		}
		return strings.Join(out, "\n")
	}
	waitFor(t, func() bool {
		return strings.Contains(events(), `web: annotation ipvs-proxy.io/scheduler: scheduler "twos" is not available in this node's kernel`)
	}, events)
}
