//go:build integration

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
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
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
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
	// As daemonAction: the metrics (and client-go's hooks) before the client.
	m := metrics.New()
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

	if n := getRequests(t, m, p.Config().Host); n != 0 {
		t.Fatalf("rest_client_requests_total GET before the daemon started: %v", n)
	}
	fake := ipvs.NewFake()
	a := addr.NewFake(addr.Config{})
	a.SetHostAddresses(netip.MustParseAddr("198.18.1.1"))
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(runCtx, dcfg, daemon.Deps{Client: api, Metrics: m, Adapters: daemon.Adapters{
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
	expectRESTClientMetrics(t, dcfg.MetricsBindAddress, p.Config().Host)
}

// expectRESTClientMetrics scrapes the metrics server at addr and checks
// that client-go's rest_client_requests_total counted the daemon's list and
// watch calls to the API server at apiURL with client-go's labels (code
// 200, method GET, host: the URL's host:port), as kube-proxy's /metrics
// has them. The test's own client only creates and updates (POST, PUT), so
// the GETs are the daemon's: none before it started (getRequests).
func expectRESTClientMetrics(t *testing.T, addr, apiURL string) {
	t.Helper()
	u, err := url.Parse(apiURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	requests := fmt.Sprintf(`rest_client_requests_total{code="200",host=%q,method="GET"} `, u.Host)
	got := -1.0
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), requests); ok {
			got, _ = strconv.ParseFloat(v, 64)
		}
	}
	// A list-and-watch of each of Services, EndpointSlices and the Node
	// (client-go lists through a streaming watch: one GET each).
	if got < 3 {
		t.Fatalf("rest_client_requests_total did not count the list/watch calls: %s= %v; /metrics:\n%s",
			requests, got, grepLines(string(body), "rest_client_requests_total"))
	}
	t.Logf("%s%v", requests, got)
}

// getRequests is the sum of rest_client_requests_total{method="GET"} to
// the API server at apiURL, read from m's registry.
func getRequests(t *testing.T, m *metrics.Metrics, apiURL string) float64 {
	u, err := url.Parse(apiURL)
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "rest_client_requests_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == "GET" && labels["host"] == u.Host {
				n += s.GetCounter().GetValue()
			}
		}
	}
	return n
}

func grepLines(s, substr string) string {
	var out strings.Builder
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			out.WriteString(line)
		}
	}
	return out.String()
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
