//go:build vmtest

package privileges

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// conntrackParams are the conntrack parameters the daemon sets at start
// from config.conf (every conntrack field left out: kube-proxy's defaults).
var conntrackParams = []string{sysctl.ConntrackMaxName, sysctl.ConntrackHashsizeName,
	sysctl.ConntrackTCPEstablishedName, sysctl.ConntrackTCPCloseWaitName}

// lowerConntrack sets the conntrack parameters below what the daemon will
// ask for (the VM's kernel may already be there from another test), puts
// the node's values back when the test ends, and returns the lowered
// values.
func lowerConntrack(t *testing.T) map[string]string {
	t.Helper()
	p := sysctl.New()
	low := map[string]string{sysctl.ConntrackMaxName: "8192", sysctl.ConntrackHashsizeName: "8192",
		sysctl.ConntrackTCPEstablishedName: "432000", sysctl.ConntrackTCPCloseWaitName: "60"}
	for _, name := range conntrackParams {
		old, err := p.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Set(name, old) })
		if err := p.Set(name, low[name]); err != nil {
			t.Fatal(err)
		}
	}
	return low
}

// checkConntrack: with the DaemonSet's mounts the daemon raised
// nf_conntrack_max and wrote the timeouts through the hostPath of
// /proc/sys/net (--sysctl-root), as kube-proxy would on this node; the hash
// size, under the container's read-only /sys, kept its value and the
// daemon said why (readOnly=true) and went on.
func checkConntrack(t *testing.T, log string, before map[string]string) {
	t.Helper()
	defaults := sysctl.Conntrack{MaxPerCore: 32768, Min: 131072, TCPEstablishedTimeout: 24 * time.Hour, TCPCloseWaitTimeout: time.Hour}
	want := map[string]string{
		sysctl.ConntrackMaxName:            strconv.Itoa(sysctl.ConntrackMax(defaults, sysctl.OnlineCPUs())),
		sysctl.ConntrackHashsizeName:       before[sysctl.ConntrackHashsizeName],
		sysctl.ConntrackTCPEstablishedName: "86400",
		sysctl.ConntrackTCPCloseWaitName:   "3600",
	}
	p := sysctl.New()
	for _, name := range conntrackParams {
		if got, err := p.Get(name); err != nil || got != want[name] {
			t.Errorf("%s = %s (%v), want %s", name, got, err, want[name])
		}
	}
	i := strings.Index(log, "Could not set conntrack parameters")
	if i < 0 {
		t.Fatalf("the daemon did not report the read-only hash size")
	}
	report := log[i:]
	if j := strings.Index(report, "readOnly="); j >= 0 {
		report = report[:j+len("readOnly=true")]
	}
	t.Logf("the daemon's report:\n%s", report)
	if !strings.Contains(report, "/sys/module/nf_conntrack/parameters/hashsize: read-only file system") ||
		!strings.HasSuffix(report, "readOnly=true") || strings.Contains(report, "/proc/sys") {
		t.Errorf("want a read-only report about the hash size only")
	}
}
