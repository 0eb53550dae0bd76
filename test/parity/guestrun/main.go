// Command guestrun is the inside of the differential suite (test/parity):
// it runs in the test VM, as root, on a fresh kernel. It reads the seed's
// GuestPlan, loads its kernel modules, puts the extra host addresses on host0, then runs kube-proxy
// (from $E2E_K8S_BIN) and, once the node is cleaned, ipvs-proxy
// ($E2E_DAEMON) with the same flags, and writes what each left in the
// kernel as a parity.Snapshot:
//
//	kube-proxy ─► synced, settled ─► kube-proxy.json ─► SIGTERM
//	ipvs-proxy --cleanup-kube-proxy; IPVS flushed; kube-ipvs0 deleted
//	ipvs-proxy ─► synced, settled ─► ipvs-proxy.json ─► SIGTERM
//
// Usage: guestrun -dir /share/parity/seed-N
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
	"github.com/ipvs-proxy/ipvs-proxy/test/parity"
)

func main() {
	dir := flag.String("dir", "", "the seed's directory in the share, holding "+parity.PlanFile)
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintf(os.Stderr, "guestrun: %v\n", err)
		os.Exit(1)
	}
}

// run carries out the plan in dir.
func run(dir string) error {
	var plan parity.GuestPlan
	data, err := os.ReadFile(filepath.Join(dir, parity.PlanFile))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &plan); err != nil {
		return fmt.Errorf("reading the plan: %w", err)
	}
	if err := addHostAddrs(plan.ExtraAddrs); err != nil {
		return err
	}
	daemons := []struct {
		name, bin string
		families  int // last-sync samples that make a complete sync
	}{
		{parity.KubeProxy, filepath.Join(os.Getenv(guest.EnvK8sBin), "kube-proxy"), 2},
		{parity.IPVSProxy, os.Getenv(guest.EnvDaemon), 1},
	}
	for i, d := range daemons {
		if i > 0 {
			if err := cleanNode(); err != nil {
				return err
			}
		}
		start := time.Now()
		snap, err := runDaemon(dir, d.name, d.bin, plan, d.families)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		fmt.Printf("%s: %d virtual servers, %d addresses; synced after %.1fs, settled after %.1fs (settled=%v), done in %v\n",
			d.name, len(snap.VirtualServers), len(snap.Addresses), snap.SyncedAfter, snap.SettledAfter, snap.Settled,
			time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// How long runDaemon waits for a daemon's first sync of every family, and
// then for a sync that saw the zone label: kube-proxy, under TCG on a
// loaded 2-core host, took over 120 s for its first sync of both families
// (a wait passes as soon as the sync is seen).
const (
	syncWait    = 300 * time.Second
	appliedWait = 180 * time.Second
)

// runDaemon starts one daemon with a placeholder zone on the node, waits
// until it has synced, sets the seed's zone and waits for a sync that saw
// it, waits for the kernel to settle, writes the snapshot and stops the
// daemon.
func runDaemon(dir, name, bin string, plan parity.GuestPlan, families int) (*parity.Snapshot, error) {
	if _, err := setZone(placeholderZone); err != nil {
		return nil, err
	}
	p, err := start(bin, plan.Flags, filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer p.stop(15 * time.Second)
	synced, allFamilies, err := p.waitSynced(families, p.started, syncWait)
	if err != nil {
		return nil, err
	}
	zoned, err := setZone(plan.Zone)
	if err != nil {
		return nil, err
	}
	applied := true
	if err := p.waitApplied(families, zoned, appliedWait); err != nil {
		fmt.Printf("%s: after the zone label was set: %v; going on\n", name, err)
		applied = false
	}
	snap, err := settle(p, 60*time.Second)
	if err != nil {
		return nil, err
	}
	snap.Daemon = name
	snap.SyncedAfter = synced.Seconds()
	snap.Complete = allFamilies && applied
	data, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), data, 0o644); err != nil {
		return nil, err
	}
	return snap, p.stop(15 * time.Second)
}

// settle reads the kernel every second until three reads in a row agree
// (kube-proxy's node-label and second-family syncs come after its first),
// or until timeout, and returns the last read.
func settle(p *process, timeout time.Duration) (*parity.Snapshot, error) {
	deadline := time.Now().Add(timeout)
	var prev *parity.Snapshot
	same := 0
	for {
		snap, err := read()
		if err != nil {
			return nil, err
		}
		if prev != nil && equal(prev, snap) {
			same++
		} else {
			same = 0
		}
		snap.SettledAfter = time.Since(p.started).Seconds()
		if same >= 2 || time.Now().After(deadline) {
			snap.Settled = same >= 2
			return snap, nil
		}
		if p.exited() {
			return nil, fmt.Errorf("exited while settling (log %s)", p.log)
		}
		prev = snap
		time.Sleep(time.Second)
	}
}

// cleanNode undoes what kube-proxy left: its iptables chains and ipsets
// (ipvs-proxy --cleanup-kube-proxy), the IPVS table and kube-ipvs0, so that
// ipvs-proxy starts on a node as clean as a fresh boot.
func cleanNode() error {
	out, err := exec.Command(os.Getenv(guest.EnvDaemon), "--cleanup-kube-proxy", "--v=2").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ipvs-proxy --cleanup-kube-proxy: %w\n%s", err, out)
	}
	if err := flushIPVS(); err != nil {
		return err
	}
	if err := deleteLink(parity.DummyInterface); err != nil {
		return err
	}
	snap, err := read()
	if err != nil {
		return err
	}
	if len(snap.VirtualServers) > 0 || len(snap.Addresses) > 0 {
		return fmt.Errorf("the node is not clean after kube-proxy: %d virtual servers, addresses %v", len(snap.VirtualServers), snap.Addresses)
	}
	return nil
}
