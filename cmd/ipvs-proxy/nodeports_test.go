package main

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/daemon"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi/kubeapitest"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/options"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// TestPlanAndDaemonPickTheSameNodePorts: for the same Node, Service,
// command line and host addresses, the daemon (options → daemonConfig →
// daemon.Run on the kernel fakes) programs node ports on exactly the
// addresses `ipvs-proxy plan` prints. The daemon's host addresses are the
// plan's stand-in (the Node's InternalIP addresses and node IPs) plus
// loopback and link-local addresses, which neither may use.
func TestPlanAndDaemonPickTheSameNodePorts(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Status: v1.NodeStatus{Addresses: []v1.NodeAddress{
		{Type: v1.NodeInternalIP, Address: "198.18.128.11"}, {Type: v1.NodeInternalIP, Address: "198.18.129.11"},
		{Type: v1.NodeInternalIP, Address: "fd00:10:0:128::11"}, {Type: v1.NodeInternalIP, Address: "fd00:10:0:129::11"},
		{Type: v1.NodeExternalIP, Address: "198.18.250.11"},
	}}}
	externalOnly := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Status: v1.NodeStatus{Addresses: []v1.NodeAddress{
		{Type: v1.NodeExternalIP, Address: "198.18.250.11"}, {Type: v1.NodeExternalIP, Address: "fd00:250::11"},
	}}}
	tests := []struct {
		name string
		node *v1.Node
		args []string
		want []string // the node-port addresses, sorted
	}{
		{name: "unset: all", node: node,
			want: []string{"198.18.128.11", "198.18.129.11", "fd00:10:0:128::11", "fd00:10:0:129::11"}},
		{name: "IPv4 CIDR only", node: node, args: []string{"--nodeport-addresses=198.18.129.0/24"},
			want: []string{"198.18.129.11", "fd00:10:0:128::11", "fd00:10:0:129::11"}},
		{name: "IPv6 CIDR only", node: node, args: []string{"--nodeport-addresses=fd00:10:0:129::/64"},
			want: []string{"198.18.128.11", "198.18.129.11", "fd00:10:0:129::11"}},
		{name: "primary", node: node, args: []string{"--nodeport-addresses=primary"},
			want: []string{"198.18.128.11", "fd00:10:0:128::11"}},
		{name: "primary with --bind-address", node: node, args: []string{"--nodeport-addresses=primary", "--bind-address=198.18.129.11"},
			want: []string{"198.18.129.11", "fd00:10:0:128::11"}},
		{name: "primary with --node-ip", node: node, args: []string{"--nodeport-addresses=primary", "--node-ip=fd00:10:0:129::11,198.18.129.11"},
			want: []string{"198.18.129.11", "fd00:10:0:129::11"}},
		{name: "all", node: node, args: []string{"--nodeport-addresses=all"},
			want: []string{"198.18.128.11", "198.18.129.11", "fd00:10:0:128::11", "fd00:10:0:129::11"}},
		{name: "localhost", node: node, args: []string{"--nodeport-addresses=localhost"}},
		{name: "ExternalIP-only Node, primary", node: externalOnly, args: []string{"--nodeport-addresses=primary"},
			want: []string{"198.18.250.11", "fd00:250::11"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := nodePortObjects(tc.node)
			plan := planNodePorts(t, objs, tc.args)
			daemon := daemonNodePorts(t, objs, tc.args)
			if !slices.Equal(plan, tc.want) {
				t.Errorf("plan's node ports on %v, want %v", plan, tc.want)
			}
			if !slices.Equal(daemon, plan) {
				t.Errorf("the daemon's node ports on %v, plan's on %v", daemon, plan)
			}
		})
	}
}

// nodePortObjects are the node, a dual-stack NodePort Service (30080) and
// its endpoints.
func nodePortObjects(node *v1.Node) []runtime.Object {
	svc := k8stest.Service("ns", "web", k8stest.ClusterIPs("198.18.0.10", "fd00:10:96::10"), k8stest.NodePort(30080))
	return []runtime.Object{node.DeepCopy(), svc,
		k8stest.Slice("ns", "web", "web-4", []discovery.Endpoint{k8stest.Endpoint("198.19.1.5")}),
		k8stest.Slice("ns", "web", "web-6", []discovery.Endpoint{k8stest.Endpoint("fd00:10:244:1::5")})}
}

// planNodePorts runs `ipvs-proxy plan` on objs and returns the addresses of
// its virtual servers on port 30080.
func planNodePorts(t *testing.T, objs []runtime.Object, args []string) []string {
	t.Helper()
	var docs []string
	for _, o := range objs {
		o = o.DeepCopyObject()
		tm := metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}
		switch o.(type) {
		case *v1.Service:
			tm.Kind = "Service"
		case *discovery.EndpointSlice:
			tm = metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}
		}
		o.GetObjectKind().SetGroupVersionKind(tm.GroupVersionKind())
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	r := runCmd(t, strings.Join(docs, "---\n"), append([]string{"plan", "-f", "-", "--hostname-override=node-a"}, args...)...)
	if r.code != exitOK {
		t.Fatalf("plan: exit code %d, stderr:\n%s", r.code, r.stderr)
	}
	return nodePortAddrs(r.stdout)
}

// daemonNodePorts runs the daemon, configured from args as the command
// line is, on objs and the kernel fakes until it has synced, and returns
// the addresses of its virtual servers on port 30080.
func daemonNodePorts(t *testing.T, objs []runtime.Object, args []string) []string {
	t.Helper()
	var o options.Options
	fs := pflag.NewFlagSet("ipvs-proxy", pflag.ContinueOnError)
	o.AddDaemonFlags(fs)
	args = append([]string{"--hostname-override=node-a", "--healthz-bind-address=", "--metrics-bind-address=",
		"--lame-duck-duration=0", "--ipvs-min-sync-period=10ms"}, args...)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := o.Complete(fs)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HostIPv6 = func() bool { return true } // as plan assumes
	standIn, _, err := cfg.Node("node-a", objs[0].(*v1.Node))
	if err != nil {
		t.Fatal(err)
	}
	dcfg, err := daemonConfig(cfg, reconcile.Owner{NodePortMin: cfg.NodePortMin, NodePortMax: cfg.NodePortMax})
	if err != nil {
		t.Fatal(err)
	}
	ipvsFake, addrFake := ipvs.NewFake(), addr.NewFake(addr.Config{})
	addrFake.SetHostAddresses(append(standIn.HostIPs, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"),
		netip.MustParseAddr("fe80::1"), netip.MustParseAddr("169.254.1.1"))...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, dcfg, daemon.Deps{Client: kubeapitest.FromClientset(fake.NewClientset(objs...)),
			Adapters: daemon.Adapters{IPVS: ipvsFake, Addresses: addrFake, Netfilter: netfilter.NewFake(), Conntrack: conntrack.NewFake()}})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(ipvsFake.Dump(), "-A -t [fd00:10:96::10]:80 "); {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not sync; kernel:\n%s", ipvsFake.Dump())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nodePortAddrs(ipvsFake.Dump())
}

// nodePortAddrs returns the addresses of the virtual servers on port 30080
// in an ipvsadm-style dump, sorted.
func nodePortAddrs(dump string) []string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "-A" {
			continue
		}
		if ap, err := netip.ParseAddrPort(f[2]); err == nil && ap.Port() == 30080 {
			out = append(out, ap.Addr().String())
		}
	}
	slices.SortFunc(out, func(a, b string) int { return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b)) })
	return out
}
