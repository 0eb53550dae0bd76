package ipvs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Schedulers are the IPVS schedulers a kernel offers, as DiscoverSchedulers
// finds them.
type Schedulers struct {
	// Names are the schedulers found, sorted.
	Names []string
	// Complete is set when the running kernel's module list (modules.dep)
	// was read: a scheduler not in Names is then one the kernel cannot
	// load. Without it (a container without /lib/modules, as the DaemonSet
	// runs) Names holds only the schedulers loaded or built in, and the
	// kernel may load others on first use.
	Complete bool
	// Loaded are the schedulers whose module is loaded (/proc/modules) or
	// built in, sorted: the kernel runs them without loading anything, so
	// no probe is needed (a virtual server using one holds its module).
	Loaded []string
}

// IsLoaded reports whether name is in s.Loaded.
func (s Schedulers) IsLoaded(name string) bool {
	_, ok := slices.BinarySearch(s.Loaded, name)
	return ok
}

// Has reports whether name is in s.Names.
func (s Schedulers) Has(name string) bool {
	_, ok := slices.BinarySearch(s.Names, name)
	return ok
}

// ModuleSources are the files DiscoverSchedulers reads.
type ModuleSources struct {
	// ProcModules lists the loaded modules: /proc/modules.
	ProcModules string
	// ModulesDir is the running kernel's module directory,
	// /lib/modules/$(uname -r), with modules.builtin and modules.dep.
	ModulesDir string
}

// DiscoverSchedulers finds the IPVS schedulers a kernel offers: those whose
// module, ip_vs_<name>, is loaded (ProcModules), built in
// (modules.builtin), or installed, that is listed in modules.dep, where
// modprobe looks modules up, with its file present. The kernel loads a
// scheduler's module by that name on first use (ip_vs_ctl.c,
// ip_vs_scheduler_get: request_module("ip_vs_%s")). The IPVS modules that
// are not schedulers, the FTP helper ip_vs_ftp and the persistence engines
// ip_vs_pe_*, are left out. A file that cannot be read is skipped: the
// result is then what could be seen, and Complete says whether modules.dep
// was among it.
func DiscoverSchedulers(src ModuleSources) Schedulers {
	found, loaded := map[string]bool{}, map[string]bool{}
	add := func(module string, isLoaded bool) {
		if s, ok := schedulerOfModule(module); ok {
			found[s] = true
			if isLoaded {
				loaded[s] = true
			}
		}
	}
	if data, err := os.ReadFile(src.ProcModules); err == nil {
		for line := range bytes.Lines(data) {
			if f := bytes.Fields(line); len(f) > 0 {
				add(string(f[0]), true)
			}
		}
	}
	var complete bool
	if src.ModulesDir != "" {
		eachLine(filepath.Join(src.ModulesDir, "modules.builtin"), func(path string) { add(moduleName(path), true) })
		complete = eachLine(filepath.Join(src.ModulesDir, "modules.dep"), func(line string) {
			path, _, _ := strings.Cut(line, ":")
			if !filepath.IsAbs(path) {
				path = filepath.Join(src.ModulesDir, path)
			}
			if m := moduleName(path); strings.HasPrefix(m, schedulerPrefix) && fileExists(path) {
				add(m, false)
			}
		})
	}
	sorted := func(m map[string]bool) []string {
		out := slices.AppendSeq(make([]string, 0, len(m)), maps.Keys(m))
		slices.Sort(out)
		return out
	}
	return Schedulers{Names: sorted(found), Complete: complete, Loaded: sorted(loaded)}
}

const schedulerPrefix = "ip_vs_"

// SchedulerModule is the module that implements an IPVS scheduler.
func SchedulerModule(sched string) string { return schedulerPrefix + sched }

// schedulerOfModule returns the scheduler a module implements, if it is one.
func schedulerOfModule(module string) (string, bool) {
	s, ok := strings.CutPrefix(strings.ReplaceAll(module, "-", "_"), schedulerPrefix)
	if !ok || s == "" || s == "ftp" || strings.HasPrefix(s, "pe_") {
		return "", false
	}
	return s, true
}

// moduleSuffixes are the file name endings of kernel modules, compressed
// or not.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// moduleName returns the module a file holds ("ip_vs_rr" for
// kernel/net/netfilter/ipvs/ip_vs_rr.ko.xz), or "" if it is not a module.
func moduleName(path string) string {
	base := filepath.Base(strings.TrimSpace(path))
	for _, suf := range moduleSuffixes {
		if m, ok := strings.CutSuffix(base, suf); ok {
			return m
		}
	}
	return ""
}

// eachLine calls fn for each line of a file and reports whether the file
// was read.
func eachLine(path string, fn func(string)) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20) // modules.dep lines list every dependency
	for sc.Scan() {
		fn(sc.Text())
	}
	return sc.Err() == nil
}

func fileExists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

// ProbeKey is the virtual server ProbeScheduler adds for a moment: the
// address kube-proxy's own probe uses (198.51.100.0, in TEST-NET-2, RFC
// 5737, which documentation reserves; pkg/proxy/ipvs/supported.go), on the
// next port, so that the two never collide when they start together.
var ProbeKey = model.VSKey{Addr: netip.MustParseAddr("198.51.100.0"), Port: 20001, Proto: model.TCP}

// ProbeScheduler proves that the kernel runs scheduler name, as
// kube-proxy's CanUseIPVSProxier does: it adds a virtual server with that
// scheduler at ProbeKey, which makes the kernel load the scheduler's module
// if it can, then deletes it. It returns an error wrapping
// ErrSchedulerMissing when the kernel has no such scheduler. A virtual
// server already at ProbeKey is the leftover of an interrupted probe: it is
// replaced.
func ProbeScheduler(k Interface, name string) error {
	vs := model.VirtualServer{VSKey: ProbeKey, Scheduler: name}
	err := k.AddVirtualServer(vs)
	if errors.Is(err, ErrExists) {
		if err = k.DeleteVirtualServer(ProbeKey); err == nil {
			err = k.AddVirtualServer(vs)
		}
	}
	if err != nil {
		return fmt.Errorf("probing IPVS scheduler %s: %w", name, err)
	}
	if err := k.DeleteVirtualServer(ProbeKey); err != nil {
		return fmt.Errorf("deleting the probe of IPVS scheduler %s: %w", name, err)
	}
	return nil
}
