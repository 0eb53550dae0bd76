package sysctl

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// procTree writes files under a temporary root, like /proc/sys.
func procTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, v := range files {
		p, err := Path(root, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestProc(t *testing.T) {
	root := procTree(t, map[string]string{
		"net.ipv4.ip_forward":                "0\n",
		"net.bridge.bridge-nf-call-iptables": "1\n",
	})
	p := &Proc{Root: root}

	if v, err := p.Get("net.ipv4.ip_forward"); err != nil || v != "0" {
		t.Fatalf("Get() = %q, %v; want \"0\"", v, err)
	}
	if err := p.Set("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Get("net.ipv4.ip_forward"); v != "1" {
		t.Errorf("after Set, Get() = %q, want \"1\"", v)
	}
	if v, _ := p.Get("net.bridge.bridge-nf-call-iptables"); v != "1" {
		t.Errorf("Get(bridge) = %q, want \"1\"", v)
	}

	if _, err := p.Get("net.ipv4.vs.conntrack"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get(missing) error = %v, want fs.ErrNotExist", err)
	}
	if err := p.Set("net.ipv4.vs.conntrack", "1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Set(missing) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(root, "net/ipv4/vs/conntrack")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Set(missing) created the file: %v", err)
	}
}

func TestPath(t *testing.T) {
	tests := []struct {
		name    string
		want    string
		wantErr bool
	}{
		{name: "net.ipv4.ip_forward", want: "/proc/sys/net/ipv4/ip_forward"},
		{name: "net.bridge.bridge-nf-call-iptables", want: "/proc/sys/net/bridge/bridge-nf-call-iptables"},
		{name: "kernel.osrelease", want: "/proc/sys/kernel/osrelease"},
		{name: "net..ipv4", wantErr: true},
		{name: "../etc/passwd", wantErr: true},
		{name: "net/ipv4/ip_forward", wantErr: true},
		{name: "", wantErr: true},
		{name: ".net", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Path("", tc.name)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Path(%q) error = %v, wantErr %t", tc.name, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("Path(%q) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

func TestProcEnsure(t *testing.T) {
	root := procTree(t, map[string]string{
		"net.ipv4.vs.conntrack":                 "0\n",
		"net.ipv4.vs.expire_nodest_conn":        "0\n",
		"net.ipv4.vs.expire_quiescent_template": "1\n",
		"net.ipv4.ip_forward":                   "1\n",
	})
	p := &Proc{Root: root}
	drift, err := Ensure(p, Required(Options{Kernel: KernelVersion{6, 1, 0}, Bridge: true}))
	if err != nil {
		t.Fatal(err)
	}
	if len(drift) != 2 {
		t.Errorf("drift = %v, want conntrack and expire_nodest_conn", drift)
	}
	drift, err = Ensure(p, Required(Options{Kernel: KernelVersion{6, 1, 0}}))
	if err != nil || len(drift) != 0 {
		t.Errorf("second Ensure() = %v, %v; want no drift", drift, err)
	}
}

// TestProcOSRelease: kernel.osrelease comes from uname(2), the same text as
// /proc/sys/kernel/osrelease, even when Root holds only net/ (a bind of the
// host's /proc/sys/net) or a kernel/osrelease file of its own.
func TestProcOSRelease(t *testing.T) {
	want, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for name, root := range map[string]string{
		"net only":          procTree(t, map[string]string{"net.ipv4.ip_forward": "1\n"}),
		"another osrelease": procTree(t, map[string]string{OSReleaseName: "3.10.0-fake\n"}),
		"default":           "",
	} {
		t.Run(name, func(t *testing.T) {
			p := &Proc{Root: root}
			got, err := p.Get(OSReleaseName)
			if err != nil || got != strings.TrimSpace(string(want)) {
				t.Errorf("Get(%s) = %q, %v; want %q", OSReleaseName, got, err, strings.TrimSpace(string(want)))
			}
			if _, err := RunningKernel(p); err != nil {
				t.Errorf("RunningKernel() error = %v", err)
			}
			if err := p.Set(OSReleaseName, "1.2.3"); err == nil {
				t.Errorf("Set(%s) succeeded, want it refused", OSReleaseName)
			}
		})
	}
}
