package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch/configwatchtest"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi/kubeapitest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

const (
	loadedConfig  = "kind: KubeProxyConfiguration\nmode: ipvs\n"
	invalidConfig = loadedConfig + "ipvs: {scheduler: \"no such\"}\n"
	strictConfig  = loadedConfig + "ipvs: {strictARP: true}\n"
)

// TestConfigChangeStopsAfterLameDuck edits the --config file the way the
// kubelet updates a ConfigMap volume (a ..data symlink swap): publishing
// the same bytes again and publishing a file the daemon would refuse keep
// it running; a valid new content makes /healthz answer 503 (lame duck)
// and Run return nil (exit 0) once the lame duck is over, with the kernel
// as it was.
func TestConfigChangeStopsAfterLameDuck(t *testing.T) {
	const lameDuck, poll = 400 * time.Millisecond, 20 * time.Millisecond
	vol := configwatchtest.NewVolume(t, loadedConfig)
	valid := func() error {
		data, err := os.ReadFile(vol.Path())
		if err == nil && strings.Contains(string(data), "no such") {
			err = errors.New(`invalid IPVS scheduler "no such"`)
		}
		return err
	}
	healthz := freeAddress(t)
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	client := fake.NewClientset(node, k8stest.Service("ns", "web"))
	ipvsFake := ipvs.NewFake()
	cfg := Config{NodeName: "node-a", Node: testNode, SyncPeriod: time.Second, MinSyncPeriod: 10 * time.Millisecond,
		DrainPollInterval: 50 * time.Millisecond, LameDuck: lameDuck, HealthzBindAddress: healthz,
		ConfigWatch: ConfigWatch{Watcher: configwatch.New(vol.Path(), configwatch.SumOf([]byte(loadedConfig))), Interval: poll, Valid: valid}}
	deps := Deps{Client: kubeapitest.FromClientset(client), Adapters: Adapters{IPVS: ipvsFake, Addresses: addr.NewFake(addr.Config{}),
		Netfilter: netfilter.NewFake(), Conntrack: conntrack.NewFake()}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, deps) }()
	waitFor(t, func() bool { return strings.Contains(ipvsFake.Dump(), "-A -t 198.18.0.10:80") }, ipvsFake.Dump)
	programmed := ipvsFake.Dump()

	for _, content := range []string{loadedConfig, invalidConfig} {
		vol.Update(content)
		select {
		case err := <-done:
			t.Fatalf("Run returned %v after the file was published with %q", err, content)
		case <-time.After(10 * poll):
		}
		if code, body := get(t, healthz); code != http.StatusOK {
			t.Fatalf("/healthz after publishing %q = %d %s, want 200", content, code, body)
		}
	}

	vol.Update(strictConfig)
	waitFor(t, func() bool { _, body := get(t, healthz); return strings.Contains(body, `"lameDuck":true`) },
		func() string { _, body := get(t, healthz); return body })
	lameDuckSeen := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil (exit 0)", err)
		}
		waited := time.Since(lameDuckSeen)
		t.Logf("Run returned %v after /healthz turned lame duck (lame duck %v)", waited, lameDuck)
		if waited < lameDuck/2 {
			t.Errorf("Run returned %v after the lame duck began, want about %v", waited, lameDuck)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the configuration changed")
	}
	if got := ipvsFake.Dump(); got != programmed {
		t.Errorf("kernel changed on exit:\n%s\nwant:\n%s", got, programmed)
	}
}

// freeAddress returns a 127.0.0.1 address with a port nothing listens on.
func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get returns the status and body of address's /healthz (0 when it does
// not answer).
func get(t *testing.T, address string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + address + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
