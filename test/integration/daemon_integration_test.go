//go:build integration

// Package integration runs the daemon's control-plane path (informers,
// tracker, runner, engine) against a real kube-apiserver and etcd on
// 127.0.0.1, with the kernel adapters' fakes. Run it with `make integration`.
package integration

import (
	"net/netip"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
	"github.com/ipvs-proxy/ipvs-proxy/test/integration/cluster"
)

// Short names for the shared helpers.
var (
	newKernel       = cluster.NewKernel
	startDaemon     = cluster.StartDaemon
	createNode      = cluster.CreateNode
	createNamespace = cluster.CreateNamespace
	createService   = cluster.CreateService
	applySlice      = cluster.ApplySlice
	eventually      = cluster.Eventually
	tcpKey          = cluster.TCPKey
	ep              = k8stest.Endpoint
	terminating     = k8stest.Terminating
)

func newClient(t *testing.T, p *apiserver.Plane) kubernetes.Interface {
	cfg := p.Config()
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rsKey(s string) model.RSKey {
	a := netip.MustParseAddrPort(s)
	return model.RSKey{Addr: a.Addr(), Port: a.Port()}
}

func statsActive(n uint32) model.RealServerStats { return model.RealServerStats{ActiveConns: n} }
