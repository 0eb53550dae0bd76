//go:build vmtest

// Package sysctl_test runs the sysctl adapter (proxier/sysctl) against a
// real /proc/sys. Every test that writes does so inside a fresh network
// namespace, so it changes nothing outside. It needs root and the ip_vs
// module: run it in the VM harness (test/vm/gotest.sh ./test/kernel/sysctl).
package sysctl_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "the sysctl kernel tests need root (run them in the VM: test/vm/gotest.sh ./test/kernel/sysctl)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestRunningKernel(t *testing.T) {
	got, err := sysctl.RunningKernel(sysctl.New())
	if err != nil {
		t.Fatal(err)
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	want, err := sysctl.ParseKernelVersion(release)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("RunningKernel() = %v, uname says %q", got, release)
	}
	t.Logf("kernel %s parsed as %v", release, got)
}

// options describes this kernel with every optional feature on.
func options(t *testing.T, p sysctl.Interface) sysctl.Options {
	t.Helper()
	k, err := sysctl.RunningKernel(p)
	if err != nil {
		t.Fatal(err)
	}
	bridge, err := sysctl.BridgePresent(p)
	if err != nil {
		t.Fatal(err)
	}
	return sysctl.Options{Kernel: k, IPv6: true, StrictARP: true, Bridge: bridge}
}

// TestEnsureConvergesAndRepairsDrift applies the whole table in a fresh
// namespace, checks every value reads back, that a second pass changes
// nothing, that a value changed behind its back is reported and repaired,
// and that the namespace the test runs from was never touched.
func TestEnsureConvergesAndRepairsDrift(t *testing.T) {
	p := sysctl.New()
	outside, err := p.Get("net.ipv4.conf.all.arp_ignore")
	if err != nil {
		t.Fatal(err)
	}
	inFreshNetNS(t, func() {
		opts := options(t, p)
		settings := sysctl.Required(opts)
		drift, err := sysctl.Ensure(p, settings)
		if err != nil {
			t.Fatalf("first Ensure: %v", err)
		}
		if len(drift) == 0 {
			t.Error("first Ensure in a fresh namespace found no drift (ip_forward and vs.conntrack start at 0)")
		}
		for _, d := range drift {
			t.Logf("drifted: %s", d)
		}
		for _, s := range settings {
			got, err := p.Get(s.Name)
			if err != nil && !(s.Optional && errors.Is(err, fs.ErrNotExist)) {
				t.Errorf("Get(%s): %v", s.Name, err)
				continue
			}
			if err == nil && got != s.Value {
				t.Errorf("%s = %q after Ensure, want %q", s.Name, got, s.Value)
			}
		}
		if drift, err := sysctl.Ensure(p, settings); err != nil || len(drift) != 0 {
			t.Errorf("second Ensure = %v, %v; want no drift", drift, err)
		}
		if err := p.Set("net.ipv4.conf.all.arp_ignore", "0"); err != nil {
			t.Fatal(err)
		}
		drift, err = sysctl.Ensure(p, settings)
		if err != nil || len(drift) != 1 || drift[0].Name != "net.ipv4.conf.all.arp_ignore" || drift[0].Got != "0" {
			t.Errorf("Ensure after a manual change = %v, %v; want the arp_ignore drift", drift, err)
		}
		if got, _ := p.Get("net.ipv4.conf.all.arp_ignore"); got != "1" {
			t.Errorf("arp_ignore = %q after repair, want 1", got)
		}
	})
	if got, _ := p.Get("net.ipv4.conf.all.arp_ignore"); got != outside {
		t.Errorf("arp_ignore outside the test namespace changed from %q to %q", outside, got)
	}
}

// TestIPVSSettingsExist checks that the ip_vs parameters the table requires
// exist (they appear when the module is loaded) and that conn_reuse_mode is
// in the table exactly on kernels before 5.9.
func TestIPVSSettingsExist(t *testing.T) {
	p := sysctl.New()
	inFreshNetNS(t, func() {
		opts := options(t, p)
		for _, name := range []string{"net.ipv4.vs.conntrack", "net.ipv4.vs.expire_nodest_conn",
			"net.ipv4.vs.expire_quiescent_template", "net.ipv4.vs.conn_reuse_mode"} {
			if _, err := p.Get(name); err != nil {
				t.Errorf("Get(%s): %v (is ip_vs loaded?)", name, err)
			}
		}
		inTable := false
		for _, s := range sysctl.Required(opts) {
			inTable = inTable || s.Name == "net.ipv4.vs.conn_reuse_mode"
		}
		old := opts.Kernel.Less(sysctl.KernelVersion{Major: 5, Minor: 9})
		if inTable != old {
			t.Errorf("kernel %v: conn_reuse_mode in table = %t, want %t", opts.Kernel, inTable, old)
		}
	})
}

// TestMissingSettings checks the error for a missing required parameter
// names it, that a missing optional one is skipped, and that Set never
// creates a parameter.
func TestMissingSettings(t *testing.T) {
	p := sysctl.New()
	inFreshNetNS(t, func() {
		settings := []sysctl.Setting{
			{Name: "net.ipv4.vs.no_such_parameter", Value: "1"},
			{Name: "net.bridge.no_such_parameter", Value: "1", Optional: true},
			{Name: "net.ipv4.ip_forward", Value: "1"},
		}
		drift, err := sysctl.Ensure(p, settings)
		if err == nil || !strings.Contains(err.Error(), "net.ipv4.vs.no_such_parameter") {
			t.Errorf("Ensure error = %v, want it to name net.ipv4.vs.no_such_parameter", err)
		}
		if err != nil && strings.Contains(err.Error(), "net.bridge.no_such_parameter") {
			t.Errorf("Ensure error names the optional parameter: %v", err)
		}
		if len(drift) != 1 || drift[0].Name != "net.ipv4.ip_forward" {
			t.Errorf("drift = %v, want ip_forward only", drift)
		}
		if got, _ := p.Get("net.ipv4.ip_forward"); got != "1" {
			t.Errorf("ip_forward = %q, want 1 (applied despite the other failure)", got)
		}
	})
}
