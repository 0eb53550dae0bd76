//go:build e2eguest

package scenarios

import (
	_ "embed"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch/configwatchtest"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// kubeadmConfig is kubeadm's default config.conf: mode ipvs, scheduler
// unset (rr), strictARP false.
//
//go:embed testdata/kubeadm-config.conf
var kubeadmConfig string

// The reload timings: the daemon reads its --config every 2 s
// (daemon.DefaultConfigPollInterval) and the scenario gives it a lame duck
// of lameDuck.
const (
	configPoll = 2 * time.Second
	lameDuck   = 3 * time.Second
	// pollsWatched is how many of the daemon's polls a publication that
	// must not restart it is watched for.
	pollsWatched = 3
)

// Test13ConfigReload: the daemon runs from kubeadm's config.conf in a
// directory laid out as the kubelet lays out a ConfigMap volume, and the
// volume is updated as the kubelet does (a new ..data symlink swapped in).
// The same bytes published again restart nothing and write nothing; a file
// the daemon would refuse (mode nftables) is logged and ignored; a changed,
// valid file (scheduler lc, strictARP) makes /healthz answer 503 for the lame
// duck while /livez stays 200, then the daemon exits with status 0, within
// a poll plus the lame duck, leaving the kernel exactly as it was, and
// traffic flows meanwhile. Started again on the new file, the daemon takes
// the new settings by updating the virtual servers in place: same real
// servers, addresses and ruleset, and a connection held throughout answers.
func Test13ConfigReload(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b")
	cl := e.client("client", 200)
	svc := e.service("web", nodePort)
	e.slices(svc, readyPods(pods...)...)
	vol := configwatchtest.NewVolume(t, kubeadmConfig)
	args := []string{"--config=" + vol.Path(), "--lame-duck-duration=" + lameDuck.String()}
	d := e.daemon(args...)
	targets := []netip.AddrPort{e.clusterIP(svc, false), e.clusterIP(svc, true), nodePortOf(svc, false), nodePortOf(svc, true)}
	for _, vip := range targets {
		e.waitWeights(vip, "tcp", weights(vip.Addr().Is6(), 1, pods...))
	}
	held := e.holdTo(cl, targets[0], "a")
	arp := e.strictARPSysctls()
	if arp == "1/2" {
		t.Fatalf("arp_ignore/arp_announce are already %s: a strictARP change would not show", arp)
	}
	before := e.kernelState()
	for _, vs := range before.VirtualServers {
		if vs.Scheduler != "rr" {
			t.Fatalf("virtual server %s has scheduler %s before the change, want kubeadm's default rr", vs.Key, vs.Scheduler)
		}
	}
	t.Logf("Programmed from kubeadm's config.conf: %d virtual servers (scheduler rr), %d addresses bound on kube-ipvs0, ruleset %d bytes; arp_ignore/arp_announce %s",
		len(before.VirtualServers), len(before.Bound), len(before.Nftables), arp)

	e.republishSame(d, vol, before)
	e.publishInvalid(d, vol, before)
	changed := strings.NewReplacer(`scheduler: ""`, "scheduler: lc", "strictARP: false", "strictARP: true").Replace(kubeadmConfig)
	e.publishChanged(d, vol, changed)

	after := e.kernelState()
	if after.String() != before.String() {
		t.Errorf("the kernel changed across the exit:\nbefore:\n%s\nafter:\n%s", before, after)
	} else {
		t.Logf("Kernel state after the exit: identical (%d virtual servers, %d addresses bound on kube-ipvs0, ruleset %d bytes)",
			len(after.VirtualServers), len(after.Bound), len(after.Nftables))
	}
	if got := e.strictARPSysctls(); got != arp {
		t.Errorf("arp_ignore/arp_announce went from %s to %s across the exit: the exiting daemon applied the new file", arp, got)
	}
	e.askHeld(held, "after the exit")
	e.spread(cl, targets[1], 10, evenly(10, pods...))
	e.spread(cl, targets[2], 10, evenly(10, pods...))

	e.restartOnNewConfig(args, before, held, cl, targets)
}

// republishSame publishes the loaded bytes again: the daemon must keep
// running, healthy, without a kernel write.
func (e *env) republishSame(d *guest.Daemon, vol *configwatchtest.Volume, before guest.KernelState) {
	e.t.Helper()
	writes := e.kernelWrites()
	vol.Update(kubeadmConfig)
	e.staysUp(d, pollsWatched*configPoll+time.Second, "the same bytes published again")
	if w := e.kernelWrites(); w != writes {
		e.t.Errorf("the daemon made %v kernel writes after the same bytes were published again, want 0", w-writes)
	}
	e.sameKernel(before, "the same bytes published again")
	if found, line := d.LogContains("Configuration file changed"); found {
		e.t.Errorf("the same bytes published again were taken for a change: %s", line)
	}
	e.t.Logf("Same bytes published again: the daemon ran on for %d polls, healthy, with no kernel write", pollsWatched)
}

// publishInvalid publishes a file the daemon would refuse at start: the
// daemon logs an error and runs on.
func (e *env) publishInvalid(d *guest.Daemon, vol *configwatchtest.Volume, before guest.KernelState) {
	e.t.Helper()
	writes := e.kernelWrites()
	vol.Update(strings.Replace(kubeadmConfig, "mode: ipvs", "mode: nftables", 1))
	var line string
	err := guest.Eventually(pollsWatched*configPoll+5*time.Second, 100*time.Millisecond, func() (bool, string) {
		var found bool
		found, line = d.LogContains("Ignored the changed configuration file")
		return found, "no such log line"
	})
	e.must(err, "waiting for the daemon to log the refused file")
	e.t.Logf("Invalid file published; daemon log: %s", line)
	if !strings.Contains(line, "nftables") {
		e.t.Errorf("the logged error does not name the refused mode: %s", line)
	}
	e.staysUp(d, configPoll+time.Second, "a file the daemon would refuse")
	if w := e.kernelWrites(); w != writes {
		e.t.Errorf("the daemon made %v kernel writes after an invalid file was published, want 0", w-writes)
	}
	e.sameKernel(before, "an invalid file published")
}

// publishChanged publishes a changed, valid file and times the lame duck
// and the exit.
func (e *env) publishChanged(d *guest.Daemon, vol *configwatchtest.Volume, content string) {
	e.t.Helper()
	swapped := time.Now()
	vol.Update(content)
	var lameDuckSeen time.Time
	for !d.Exited() && time.Since(swapped) < time.Minute {
		code, _, err := guest.Node.HTTPGet("http://" + guest.HealthzAddr + "/healthz")
		if err == nil && code == 503 && lameDuckSeen.IsZero() {
			lameDuckSeen = time.Now()
			code, body, err := guest.Node.HTTPGet("http://" + guest.HealthzAddr + "/livez")
			if err != nil || code != 200 {
				e.t.Errorf("/livez during the lame duck: %d %q %v, want 200", code, body, err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	exited, err := d.WaitExit(time.Second)
	if err != nil {
		e.t.Fatalf("the daemon did not exit with status 0 after the file changed: %v", err)
	}
	if lameDuckSeen.IsZero() {
		e.t.Fatalf("/healthz never answered 503 before the daemon exited")
	}
	detect, duck, total := lameDuckSeen.Sub(swapped), exited.Sub(lameDuckSeen), exited.Sub(swapped)
	e.t.Logf("Changed file published: /healthz 503 after %v, exit 0 %v later, %v from the swap to the exit (poll %v, lame duck %v)",
		detect.Round(time.Millisecond), duck.Round(time.Millisecond), total.Round(time.Millisecond), configPoll, lameDuck)
	// Bounds: one poll to notice, the lame duck, and slack for the VM.
	const slack = 3 * time.Second
	if detect > configPoll+slack {
		e.t.Errorf("the lame duck started %v after the swap, want at most a poll (%v) + %v", detect, configPoll, slack)
	}
	// duck runs from the end of the first request answered 503, after the
	// lame duck started: at most that request's duration short of it.
	if duck < lameDuck-time.Second || duck > lameDuck+slack {
		e.t.Errorf("the daemon exited %v after /healthz turned 503, want the lame duck (%v)", duck, lameDuck)
	}
	for _, want := range [][]string{
		{"Configuration file changed"},
		{"Stopping: lame duck", `reason="configChanged"`},
		{"Stopped; kernel rules left in place"},
	} {
		if found, _ := d.LogContains(want...); !found {
			e.t.Errorf("the daemon's log has no line with %q", want)
		}
	}
}

// restartOnNewConfig starts the daemon again on the volume, which holds the
// changed file: it takes scheduler lc and strictARP without a flush.
func (e *env) restartOnNewConfig(args []string, before guest.KernelState, held *guest.Conn, cl *guest.Netns, targets []netip.AddrPort) {
	e.t.Helper()
	e.daemon(args...)
	err := guest.Eventually(programTimeout, 100*time.Millisecond, func() (bool, string) {
		st, err := guest.ReadKernelState()
		if err != nil {
			return false, err.Error()
		}
		return st.String() == before.WithScheduler("lc").String(), st.String()
	})
	e.must(err, "waiting for every virtual server to take scheduler lc, with nothing else changed")
	e.t.Logf("Restarted on the new file: every virtual server has scheduler lc; real servers, kube-ipvs0 and the ruleset unchanged")
	if got := e.strictARPSysctls(); got != "1/2" {
		e.t.Errorf("arp_ignore/arp_announce are %s after the restart with strictARP, want 1/2", got)
	}
	if w, n := e.kernelWrites(), float64(len(before.VirtualServers)); w != n {
		e.t.Errorf("the restarted daemon made %v kernel writes, want %v: one scheduler update per virtual server", w, n)
	} else {
		e.t.Logf("The restarted daemon made %v kernel writes: one update per virtual server, no flush", w)
	}
	e.askHeld(held, "after the restart")
	for _, vip := range targets {
		if got, err := cl.Spread(vip, 6); err != nil {
			e.t.Errorf("connections to %s after the restart (answered: %v): %v", vip, got, err)
		}
	}
}

// staysUp checks, for d, that the daemon keeps running and /healthz and
// /livez answer 200.
func (e *env) staysUp(d *guest.Daemon, dur time.Duration, after string) {
	e.t.Helper()
	for end := time.Now().Add(dur); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if d.Exited() {
			e.t.Fatalf("the daemon exited after %s", after)
		}
		if err := healthy(); err != nil {
			e.t.Fatalf("the daemon turned unhealthy after %s: %v", after, err)
		}
	}
}

// askHeld checks that the held connection still answers.
func (e *env) askHeld(c *guest.Conn, when string) {
	e.t.Helper()
	name, err := c.Ask(guest.DialTimeout)
	if err != nil {
		e.t.Errorf("the held connection failed %s: %v", when, err)
		return
	}
	e.t.Logf("The held connection answered %s (backend %s)", when, name)
}

// kernelState reads what is programmed in the kernel.
func (e *env) kernelState() guest.KernelState {
	e.t.Helper()
	st, err := guest.ReadKernelState()
	e.must(err, "reading the kernel state")
	return st
}

// sameKernel fails the test if the kernel state differs from before.
func (e *env) sameKernel(before guest.KernelState, after string) {
	e.t.Helper()
	if now := e.kernelState(); now.String() != before.String() {
		e.t.Errorf("the kernel changed after %s:\nbefore:\n%s\nnow:\n%s", after, before, now)
	}
}

// kernelWrites returns the running daemon's ipvs_proxy_kernel_writes_total.
func (e *env) kernelWrites() float64 {
	e.t.Helper()
	m, err := guest.ScrapeMetrics()
	e.must(err, "scraping metrics")
	return m["ipvs_proxy_kernel_writes_total"]
}

// strictARPSysctls returns "arp_ignore/arp_announce" of net.ipv4.conf.all:
// "1/2" is what strictARP sets.
func (e *env) strictARPSysctls() string {
	e.t.Helper()
	ign, err := guest.ReadSysctl("net.ipv4.conf.all.arp_ignore")
	e.must(err, "reading arp_ignore")
	ann, err := guest.ReadSysctl("net.ipv4.conf.all.arp_announce")
	e.must(err, "reading arp_announce")
	return strings.TrimSpace(ign) + "/" + strings.TrimSpace(ann)
}
