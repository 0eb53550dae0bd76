//go:build parity

package parity

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/host"
)

// Where test/e2e/host puts things in the guest.
const (
	guestBin        = "/e2e/bin/guestrun"
	guestShare      = "/share"
	guestKubeconfig = guestShare + "/kubeconfig"
)

// TestParity runs each seed of PARITY_SEEDS (comma-separated, default 1)
// in its own VM boot against one API server: see the package
// documentation.
func TestParity(t *testing.T) {
	seeds := parseSeeds(t, os.Getenv("PARITY_SEEDS"))
	apiserver.RequireBinaries(t, apiserver.KubeAPIServer, apiserver.Etcd, apiserver.KubeProxy)
	s := startSuite(t)
	cfg := s.Plane.Config()
	cfg.WarningHandler = rest.NoWarnings{} // externalIPs, PreferClose and FQDN slices are deprecated, and meant
	client := kubernetes.NewForConfigOrDie(cfg)
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runSeed(t, s, client, seed)
		})
	}
}

func parseSeeds(t *testing.T, env string) []uint64 {
	if strings.TrimSpace(env) == "" {
		env = "1"
	}
	var out []uint64
	for _, f := range strings.Split(env, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			t.Fatalf("PARITY_SEEDS=%q: %v", env, err)
		}
		out = append(out, n)
	}
	return out
}

// startSuite builds ipvs-proxy and guestrun and starts the API server
// (dual-stack, its certificate naming the guest's address for it).
func startSuite(t *testing.T) *host.Suite {
	ctx := t.Context()
	root, err := host.ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bin := t.TempDir()
	if err := host.Build(ctx, root, bin, host.DaemonBin); err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, "guestrun"), "./test/parity/guestrun")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building guestrun: %v\n%s", err, out)
	}
	t.Logf("Built ipvs-proxy and guestrun in %v", time.Since(start).Round(time.Millisecond))
	share := t.TempDir()
	if os.Getenv("PARITY_KEEP") == "1" {
		if share, err = os.MkdirTemp("", "ipvs-proxy-parity-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("Keeping the share directory %s", share)
	}
	start = time.Now()
	s, err := host.Start(ctx, host.Config{ModRoot: root, Share: share, BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Started kube-apiserver at %s in %v", s.Plane.URL(), time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stopping the API server: %v", err)
		}
	})
	return s
}

// runSeed loads the seed's cluster, runs both daemons in one VM boot and
// judges the differences.
func runSeed(t *testing.T, s *host.Suite, client kubernetes.Interface, seed uint64) {
	start := time.Now()
	c := Generate(seed)
	t.Log(c.Summary())
	w, err := Load(t.Context(), client, c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := Unload(t.Context(), client, c); err != nil {
			t.Errorf("Unloading seed %d: %v", seed, err)
		}
	}()
	name := fmt.Sprintf("seed-%d", seed)
	dir := filepath.Join(s.Share, "parity", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writePlan(t, dir, GuestPlan{Flags: append(CommonFlags(guestKubeconfig), c.Flags...), ExtraAddrs: c.Node.ExtraAddrs,
		Zone: c.Node.Zone})
	vmStart := time.Now()
	code, err := s.Run(t.Context(), host.Run{
		Name:    name,
		Command: []string{guestBin, "-dir", guestShare + "/parity/" + name},
		Timeout: 900 * time.Second, // guestrun's waits, for both daemons, and the boot
		SMP:     1,
		Output:  func(line string) { t.Log(line) },
	})
	if err != nil || code != 0 {
		for _, d := range []string{KubeProxy, IPVSProxy} {
			t.Logf("%s.log (end):\n%s", d, tail(filepath.Join(dir, d+".log"), 40))
		}
		t.Fatalf("The VM run failed: exit %d, %v", code, err)
	}
	vmTook := time.Since(vmStart)
	kp, ip := readSnapshot(t, dir, KubeProxy), readSnapshot(t, dir, IPVSProxy)
	w.Host = kp.HostAddresses
	for _, a := range kp.Addresses {
		w.KubeProxyBound = append(w.KubeProxyBound, a.Addr())
	}
	v := Judge(Compare(kp, ip), w)
	t.Logf("Seed %d: kube-proxy %d virtual servers, %d addresses; ipvs-proxy %d, %d; explained %v; unexplained %d; VM %v, seed %v",
		seed, len(kp.VirtualServers), len(kp.Addresses), len(ip.VirtualServers), len(ip.Addresses), v.Explained,
		len(v.Unexplained), vmTook.Round(time.Second), time.Since(start).Round(time.Second))
	for _, snap := range []*Snapshot{kp, ip} {
		if !snap.Settled {
			t.Errorf("%s's table never read the same three times in a row: its snapshot may be mid-sync", snap.Daemon)
		}
		if !snap.Complete {
			t.Errorf("%s did not complete a sync of every IP family after the node's zone label was set within guestrun's waits: "+
				"its table may lack a family or the zone (a host too loaded?), so the differences below may be the run's, not the daemons'", snap.Daemon)
		}
	}
	if len(v.Unexplained) > 0 {
		t.Errorf("Seed %d: %d differences no intended rule explains (flags %v):\n%s", seed, len(v.Unexplained), c.Flags, Report(v, kp, ip, w))
	}
}

func writePlan(t *testing.T, dir string, plan GuestPlan) {
	t.Helper()
	data, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, PlanFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readSnapshot(t *testing.T, dir, daemon string) *Snapshot {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, daemon+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s's snapshot: %v", daemon, err)
	}
	s.Canonical()
	return &s
}

// tail returns the last n lines of a file, or why it could not.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
