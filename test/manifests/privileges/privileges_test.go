//go:build vmtest

package privileges

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode))
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "the privilege tests need root: run them in the VM (test/vm/gotest.sh ./test/manifests/privileges)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// netAdminOnly is CapEff with exactly CAP_NET_ADMIN (bit 12).
const netAdminOnly = "0000000000001000"

// daemonSysctls are the net.* settings the daemon requires (proxier/sysctl's
// table, strict ARP and IPv6 included).
var daemonSysctls = []string{
	"net.ipv4.vs.conntrack", "net.ipv4.vs.expire_nodest_conn", "net.ipv4.vs.expire_quiescent_template",
	"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding",
	"net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce",
}

// hostPathRoot is where the mount helper puts its bind mount of the host's
// /proc/sys/net, as a hostPath volume would: <root>/net.
const hostPathRoot = "/tmp/host/proc/sys"

func init() {
	// rewrite: each daemon sysctl written back with its current value,
	// through /proc/sys and, when mounted, through hostPathRoot (the
	// DaemonSet's --sysctl-root), where the kernel version must be readable
	// too although kernel/osrelease is not under it.
	helperModes["rewrite"] = func() map[string]string {
		out := map[string]string{}
		roots := []string{sysctl.DefaultRoot}
		if _, err := os.Stat(filepath.Join(hostPathRoot, "net")); err == nil {
			roots = append(roots, hostPathRoot)
		}
		for _, root := range roots {
			p := &sysctl.Proc{Root: root}
			_, err := sysctl.RunningKernel(p)
			out[root+" "+sysctl.OSReleaseName] = errString(err)
			for _, name := range daemonSysctls {
				v, err := p.Get(name)
				if err == nil {
					err = p.Set(name, v)
				}
				out[root+" "+name] = errString(err)
			}
		}
		return out
	}
	// The container's mounts: the host's /proc/sys/net bound at
	// hostPathRoot/net first (kubelet and runc set up volumes before
	// readonlyPaths), then /proc/sys bound onto itself read-only, as runc
	// does for kubelet's default readonlyPaths.
	helperPrepare["container-mounts"] = func() error {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("making / private: %w", err)
		}
		dst := filepath.Join(hostPathRoot, "net")
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount("/proc/sys/net", dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding /proc/sys/net: %w", err)
		}
		if err := unix.Mount("/proc/sys", "/proc/sys", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding /proc/sys: %w", err)
		}
		return unix.Mount("/proc/sys", "/proc/sys", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
	}
	helperModes["container-mounts"] = helperModes["rewrite"]
	// autoload: what the daemon does first, in a network namespace of its
	// own: probe IPVS and nftables, then add a virtual server with the wrr
	// scheduler.
	helperModes["autoload"] = func() map[string]string {
		out := map[string]string{}
		k, err := ipvs.New()
		out["ipvs.New"] = errString(err)
		if err != nil {
			return out
		}
		defer k.Close()
		out["ipvs.Probe"] = errString(k.Probe())
		vs := model.VirtualServer{VSKey: model.VSKey{Addr: netip.MustParseAddr("198.18.0.10"), Port: 80, Proto: model.TCP}, Scheduler: "wrr"}
		out["ipvs.AddVirtualServer wrr"] = errString(k.AddVirtualServer(vs))
		out["netfilter.Probe"] = errString(netfilter.New(netfilter.Config{}).Probe())
		return out
	}
}

// TestNetSysctlsNeedOnlyNetAdmin: in the host's network namespace (a
// hostNetwork pod), the daemon's sysctls are writable with CAP_NET_ADMIN and
// nothing else, even by a non-root user; without it a non-root user is
// refused everything. Root without it is refused only ip_forward (its
// handler checks CAP_NET_ADMIN; for the others file permissions decide,
// which is why a container's /proc/sys has to be read-only).
func TestNetSysctlsNeedOnlyNetAdmin(t *testing.T) {
	all := func(string) bool { return true }
	none := func(string) bool { return false }
	for _, tc := range []struct {
		id      identity
		allowed func(name string) bool
	}{
		{rootNetAdmin, all},
		{nobodyNetAdmin, all},
		{nobodyNoCaps, none},
		{rootNoCaps, func(name string) bool { return name != "net.ipv4.ip_forward" }},
	} {
		t.Run(tc.id.name, func(t *testing.T) {
			r := runHelper(t, "rewrite", tc.id, 0)
			wantCaps := netAdminOnly
			if !tc.id.netAdmin {
				wantCaps = "0000000000000000"
			}
			if r.CapEff != wantCaps {
				t.Fatalf("helper CapEff %s, want %s", r.CapEff, wantCaps)
			}
			for _, name := range daemonSysctls {
				got := r.Results[sysctl.DefaultRoot+" "+name]
				if (got == "") != tc.allowed(name) {
					t.Errorf("writing %s: %q, want allowed=%v", name, got, tc.allowed(name))
				}
			}
		})
	}
}

// TestReadOnlyProcSys: with the mounts of an unprivileged container (a
// read-only /proc/sys), every write through /proc/sys fails with EROFS,
// whatever the process's identity (root with CAP_NET_ADMIN here); the same
// files reached through a bind of the host's /proc/sys/net mounted outside
// /proc (a hostPath volume) are writable.
func TestReadOnlyProcSys(t *testing.T) {
	r := runHelper(t, "container-mounts", rootNetAdmin, syscall.CLONE_NEWNS)
	if r.CapEff != netAdminOnly {
		t.Fatalf("helper CapEff %s, want %s", r.CapEff, netAdminOnly)
	}
	for _, name := range daemonSysctls {
		if got := r.Results[sysctl.DefaultRoot+" "+name]; !strings.Contains(got, "read-only file system") {
			t.Errorf("%s through /proc/sys: %q, want EROFS", name, got)
		}
		if got := r.Results[hostPathRoot+" "+name]; got != "" {
			t.Errorf("%s through the hostPath bind: %q, want it written", name, got)
		}
	}
	if got := r.Results[hostPathRoot+" "+sysctl.OSReleaseName]; got != "" {
		t.Errorf("the kernel version with the root at the hostPath bind: %q", got)
	}
}

// loadedModules returns the names in /proc/modules.
func loadedModules(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/modules")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// unload removes a module after the modules that hold it.
func unload(t *testing.T, name string) {
	t.Helper()
	holders, err := os.ReadDir(filepath.Join("/sys/module", name, "holders"))
	if errors.Is(err, fs.ErrNotExist) {
		return // not loaded, or built in
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range holders {
		unload(t, h.Name())
	}
	if err := unix.DeleteModule(name, unix.O_NONBLOCK); err != nil && !errors.Is(err, unix.ENOENT) {
		t.Fatalf("unloading %s: %v", name, err)
	}
}

func isLoaded(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/module", name, "initstate"))
	return err == nil
}

// TestModulesLoadThemselves: with ip_vs, its schedulers and nf_tables
// unloaded, and no modprobe on PATH, the daemon's first calls from a process
// with only CAP_NET_ADMIN get the modules loaded by the kernel itself (its
// module aliases: net-pf-16-proto-16-family-IPVS, ip_vs_<scheduler>,
// nfnetlink-subsys-10).
func TestModulesLoadThemselves(t *testing.T) {
	before := loadedModules(t)
	t.Cleanup(func() {
		// Give later tests in this VM what they had.
		now := loadedModules(t)
		for _, m := range before {
			if !slices.Contains(now, m) {
				if out, err := exec.Command("modprobe", m).CombinedOutput(); err != nil {
					t.Errorf("reloading %s: %v %s", m, err, out)
				}
			}
		}
	})
	for _, m := range []string{"ip_vs", "nf_tables"} {
		unload(t, m)
		if isLoaded(m) {
			t.Fatalf("%s is still loaded", m)
		}
	}
	if isLoaded("ip_vs_wrr") {
		t.Fatal("ip_vs_wrr is still loaded")
	}
	r := runHelper(t, "autoload", rootNetAdmin, syscall.CLONE_NEWNET)
	if r.CapEff != netAdminOnly {
		t.Fatalf("helper CapEff %s, want %s", r.CapEff, netAdminOnly)
	}
	for op, err := range r.Results {
		if err != "" {
			t.Errorf("%s: %s", op, err)
		}
	}
	for _, m := range []string{"ip_vs", "ip_vs_wrr", "nf_tables"} {
		if !isLoaded(m) {
			t.Errorf("%s was not loaded", m)
		}
	}
	t.Logf("helper results: %v", r.Results)
}
