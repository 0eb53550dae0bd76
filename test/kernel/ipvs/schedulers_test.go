//go:build vmtest

package ipvs_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
)

// vmSchedulers are the schedulers whose modules the VM's initramfs carries:
// those of /etc/vm-modules, the list test/vm/modules.txt resolved for the
// VM's kernel (optional modules it lacks, such as ip_vs_twos on Debian's
// 6.1, left out).
func vmSchedulers(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("/etc/vm-modules")
	if err != nil {
		t.Skipf("not in the test VM: %v", err)
	}
	var out []string
	for _, m := range strings.Fields(string(data)) {
		if s, ok := strings.CutPrefix(m, "ip_vs_"); ok && s != "ftp" && !strings.HasPrefix(s, "pe_") {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// TestSchedulersDiscovered: what the daemon finds at start
// (Kernel.Schedulers) is exactly the schedulers of the VM's kernel, the
// list is complete (the VM has /lib/modules), each one found runs (a probe
// virtual server with it is accepted), and one not found is refused.
func TestSchedulersDiscovered(t *testing.T) {
	reset(t)
	want := vmSchedulers(t)
	got := kernel.Schedulers()
	t.Logf("The kernel offers %d IPVS schedulers: %s (complete %v)", len(got.Names), strings.Join(got.Names, ", "), got.Complete)
	if !got.Complete || !slices.Equal(got.Names, want) {
		t.Fatalf("Schedulers() = %v (complete %v), want %v, complete", got.Names, got.Complete, want)
	}
	for _, s := range got.Names {
		if err := ipvs.ProbeScheduler(kernel, s); err != nil {
			t.Errorf("scheduler %s was found but does not run: %v", s, err)
		}
	}
	missing := "nosuch"
	for _, s := range proxier.Schedulers {
		if !got.Has(s) {
			missing = s // ip_vs_twos on Debian's 6.1
			break
		}
	}
	if err := ipvs.ProbeScheduler(kernel, missing); !errors.Is(err, ipvs.ErrSchedulerMissing) {
		t.Errorf("ProbeScheduler(%s), not found, = %v, want ErrSchedulerMissing", missing, err)
	}
	if svcs := list(t); len(svcs) != 0 {
		t.Errorf("the probes left %d virtual servers", len(svcs))
	}
}

// TestSchedulerModuleRemoved: a scheduler whose module is unloaded and
// whose file is gone (as on a node without it; the e2e suite's HideModule)
// is no longer found, and the kernel indeed refuses it; it is found again
// once the file is back, and the probe loads it.
func TestSchedulerModuleRemoved(t *testing.T) {
	reset(t)
	const sched = "nq"
	if !kernel.Schedulers().Has(sched) {
		t.Skipf("the kernel has no %s scheduler", sched)
	}
	path := moduleFile(t, ipvs.SchedulerModule(sched))
	if err := unix.DeleteModule(ipvs.SchedulerModule(sched), unix.O_NONBLOCK); err != nil && !errors.Is(err, unix.ENOENT) {
		t.Fatalf("unloading %s: %v", ipvs.SchedulerModule(sched), err)
	}
	if err := os.Rename(path, path+".hidden"); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := os.Rename(path+".hidden", path); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer restore()
	if got := kernel.Schedulers(); got.Has(sched) || !got.Complete {
		t.Errorf("Schedulers() = %v (complete %v) with %s removed", got.Names, got.Complete, sched)
	}
	if err := ipvs.ProbeScheduler(kernel, sched); !errors.Is(err, ipvs.ErrSchedulerMissing) {
		t.Errorf("ProbeScheduler(%s) with its module removed = %v, want ErrSchedulerMissing", sched, err)
	}
	restore()
	if !kernel.Schedulers().Has(sched) {
		t.Errorf("%s not found once its module file is back", sched)
	}
	if err := ipvs.ProbeScheduler(kernel, sched); err != nil {
		t.Errorf("ProbeScheduler(%s) once its module is back = %v", sched, err)
	}
}

// moduleFile finds a module's file through modules.dep.
func moduleFile(t *testing.T, module string) string {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]))
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(dep), "\n") {
		file, _, _ := strings.Cut(line, ":")
		if base := filepath.Base(file); base == module+".ko" || strings.HasPrefix(base, module+".ko.") {
			return filepath.Join(dir, file)
		}
	}
	t.Fatalf("module %s is not in %s/modules.dep", module, dir)
	return ""
}
