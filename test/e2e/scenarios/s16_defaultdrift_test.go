//go:build e2eguest

package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// Test16FlushAtDefaults: with --ipvs-sync-period unset, as kubeadm leaves
// it (cheap checks every 30 s, the full read-back every 30 minutes), an
// IPVS table flushed by hand (`ipvsadm -C`) is back within one check
// period plus a full reconcile, from the check of one random virtual
// server, not from the read-back; and traffic works again.
func Test16FlushAtDefaults(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b")
	svc := e.service("web", nodePort)
	e.slices(svc, readyPods(pods...)...)
	var args []string
	for _, a := range guest.DaemonArgs() {
		if !strings.HasPrefix(a, "--ipvs-sync-period=") {
			args = append(args, a)
		}
	}
	d := e.daemonArgs(args)
	vip := e.clusterIP(svc, false)
	e.waitWeights(vip, "tcp", weights(false, 1, pods...))

	start := time.Now()
	_, err := guest.Run("ipvsadm", "-C")
	e.must(err, "flushing IPVS")
	took, err := guest.WaitWeights(vip, "tcp", guest.WeightsOf(weights(false, 1, pods...)), 75*time.Second)
	if err != nil {
		t.Fatalf("IPVS flushed by hand not repaired within 75 s: %v; daemon log:\n%s", err, d.LogTail(30))
	}
	t.Logf("IPVS flushed by hand (ipvsadm -C): %v virtual server back after %v", vip, time.Since(start).Round(time.Millisecond))
	_ = took
	if ok, _ := d.LogContains("IPVS drifted from what was applied"); !ok {
		t.Errorf("the repair did not come from the IPVS check; last lines:\n%s", d.LogTail(20))
	}
	cl := e.client("client", 200)
	e.spread(cl, vip, 10, evenly(10, pods...))
}
