//go:build integration

package main

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/daemon"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/options"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

// TestDaemonWithKubeadmConfig runs the daemon from kubeadm's kube-proxy
// ConfigMap config.conf (its kubeconfig pointed at the real API server), as
// the command line maps it, and shows it converges.
func TestDaemonWithKubeadmConfig(t *testing.T) {
	p := apiserver.ForTest(t, apiserver.Options{})
	conf, err := os.ReadFile("options/testdata/kubeadm-config.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf = []byte(strings.Replace(string(conf), "/var/lib/kube-proxy/kubeconfig.conf", p.Kubeconfig(), 1))
	path := filepath.Join(t.TempDir(), "config.conf")
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	var o options.Options
	fs := pflag.NewFlagSet("ipvs-proxy", pflag.ContinueOnError)
	o.AddDaemonFlags(fs)
	if err := fs.Parse([]string{"--config", path, "--hostname-override", "node-a",
		"--healthz-bind-address", freePort(t), "--metrics-bind-address", freePort(t)}); err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := o.Complete(fs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubeadm config.conf accepted with %d warnings: %v", len(warnings), warnings)
	dcfg, err := daemonConfig(cfg, reconcile.Owner{NodePortMin: cfg.NodePortMin, NodePortMax: cfg.NodePortMax})
	if err != nil {
		t.Fatal(err)
	}
	api, err := kubeClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(p.Config())
	ctx := t.Context()
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	node, err = client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "198.18.1.1"}}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := k8stest.Service("default", "web")
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs, svc.CreationTimestamp = "", nil, metav1.Time{}
	if svc, err = client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sl := k8stest.Slice("default", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")})
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	fake := ipvs.NewFake()
	a := addr.NewFake(addr.Config{})
	a.SetHostAddresses(netip.MustParseAddr("198.18.1.1"))
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(runCtx, dcfg, daemon.Deps{Client: api, Adapters: daemon.Adapters{
			IPVS: fake, Addresses: a, Netfilter: netfilter.NewFake(), Conntrack: conntrack.NewFake()}})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	want := "-a -t " + svc.Spec.ClusterIP + ":80 -r 198.18.10.1:8080 -m -w 1"
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(fake.Dump(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("not converged; kernel:\n%s", fake.Dump())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a 127.0.0.1 address with a port free at the moment.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
