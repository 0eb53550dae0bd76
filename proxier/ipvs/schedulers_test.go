package ipvs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// moduleTree writes a fake /proc/modules and /lib/modules/<release>: files
// maps a path relative to the tree's root to its content.
func moduleTree(t *testing.T, files map[string]string) ModuleSources {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ModuleSources{ProcModules: filepath.Join(root, "proc/modules"), ModulesDir: filepath.Join(root, "lib/modules/6.1.0")}
}

const ipvsDir = "lib/modules/6.1.0/kernel/net/netfilter/ipvs/"

func TestDiscoverSchedulers(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  Schedulers
	}{{
		name: "loaded, built in and installed, compressed or not",
		files: map[string]string{
			"proc/modules":                      "ip_vs_rr 16384 0 - Live 0x0000000000000000\nip_vs 184320 2 ip_vs_rr, Live 0x0\nnf_conntrack 176128 1 ip_vs, Live 0x0\n",
			"lib/modules/6.1.0/modules.builtin": "kernel/net/netfilter/ipvs/ip_vs_wrr.ko\nkernel/net/ipv4/tcp_cubic.ko\n",
			"lib/modules/6.1.0/modules.dep": "kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko\n" +
				"kernel/net/netfilter/ipvs/ip_vs_mh.ko.xz: kernel/net/netfilter/ipvs/ip_vs.ko\n" +
				"kernel/net/netfilter/ipvs/ip_vs_sh.ko.zst:\n" +
				"updates/dkms/ip_vs_mine.ko:\n",
			ipvsDir + "ip_vs_rr.ko":                        "",
			ipvsDir + "ip_vs_mh.ko.xz":                     "",
			ipvsDir + "ip_vs_sh.ko.zst":                    "",
			"lib/modules/6.1.0/updates/dkms/ip_vs_mine.ko": "",
		},
		want: Schedulers{Names: []string{"mh", "mine", "rr", "sh", "wrr"}, Complete: true, Loaded: []string{"rr", "wrr"}},
	}, {
		name: "the FTP helper and persistence engines are not schedulers",
		files: map[string]string{
			"proc/modules":                    "ip_vs_ftp 16384 0 - Live 0x0\nip_vs_pe_sip 16384 0 - Live 0x0\n",
			"lib/modules/6.1.0/modules.dep":   "kernel/net/netfilter/ipvs/ip_vs_ftp.ko:\nkernel/net/netfilter/ipvs/ip_vs_pe_sip.ko:\nkernel/net/netfilter/ipvs/ip_vs.ko:\n",
			ipvsDir + "ip_vs_ftp.ko":          "",
			ipvsDir + "ip_vs_pe_sip.ko":       "",
			ipvsDir + "ip_vs.ko":              "",
			"lib/modules/6.1.0/modules.order": "",
		},
		want: Schedulers{Names: []string{}, Complete: true, Loaded: []string{}},
	}, {
		name: "a module listed in modules.dep without its file is missing (renamed away)",
		files: map[string]string{
			"lib/modules/6.1.0/modules.dep": "kernel/net/netfilter/ipvs/ip_vs_dh.ko:\nkernel/net/netfilter/ipvs/ip_vs_lc.ko:\n",
			ipvsDir + "ip_vs_dh.ko.hidden":  "",
			ipvsDir + "ip_vs_lc.ko":         "",
		},
		want: Schedulers{Names: []string{"lc"}, Complete: true, Loaded: []string{}},
	}, {
		name: "a module file modules.dep does not list cannot be modprobed",
		files: map[string]string{
			"lib/modules/6.1.0/modules.dep": "\n",
			ipvsDir + "ip_vs_lc.ko":         "",
		},
		want: Schedulers{Names: []string{}, Complete: true, Loaded: []string{}},
	}, {
		name: "without the module directory (the DaemonSet's pod): only what is loaded, incomplete",
		files: map[string]string{
			"proc/modules": "ip_vs_wlc 16384 0 - Live 0x0\nip_vs_sh 16384 0 - Live 0x0\n",
		},
		want: Schedulers{Names: []string{"sh", "wlc"}, Loaded: []string{"sh", "wlc"}},
	}, {
		name:  "nothing readable",
		files: map[string]string{},
		want:  Schedulers{Names: []string{}, Loaded: []string{}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DiscoverSchedulers(moduleTree(t, tc.files))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DiscoverSchedulers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiscoverSchedulersAbsoluteDepPaths(t *testing.T) {
	src := moduleTree(t, map[string]string{ipvsDir + "ip_vs_fo.ko": ""})
	dep := filepath.Join(src.ModulesDir, "kernel/net/netfilter/ipvs/ip_vs_fo.ko") + ":\n"
	if err := os.WriteFile(filepath.Join(src.ModulesDir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := DiscoverSchedulers(src); !got.Has("fo") || !got.Complete {
		t.Errorf("DiscoverSchedulers = %+v, want fo, complete", got)
	}
}

func TestProbeScheduler(t *testing.T) {
	f := NewFake()
	f.SetSchedulers([]string{"rr", "mh"}, Schedulers{Names: []string{"rr"}})
	if err := ProbeScheduler(f, "mh"); err != nil {
		t.Errorf("ProbeScheduler(mh) = %v, want nil", err)
	}
	err := ProbeScheduler(f, "twos")
	if !errors.Is(err, ErrSchedulerMissing) || !strings.Contains(err.Error(), "ip_vs_twos") {
		t.Errorf("ProbeScheduler(twos) = %v, want ErrSchedulerMissing naming ip_vs_twos", err)
	}
	// A leftover of an interrupted probe is replaced, then removed.
	f.Seed(&model.Service{VirtualServer: model.VirtualServer{VSKey: ProbeKey, Scheduler: "rr"}})
	if err := ProbeScheduler(f, "mh"); err != nil {
		t.Errorf("ProbeScheduler over a leftover = %v, want nil", err)
	}
	if d := f.Dump(); d != "" {
		t.Errorf("the probe left virtual servers:\n%s", d)
	}
	if got := f.Schedulers(); !got.Has("rr") || got.Has("mh") || got.Complete {
		t.Errorf("Schedulers = %+v, want what SetSchedulers said was found", got)
	}
}

func TestFakeSchedulersDefault(t *testing.T) {
	f := NewFake()
	got := f.Schedulers()
	if !got.Complete || !got.Has("twos") || !got.Has("rr") || got.Has("nosuch") {
		t.Errorf("default Schedulers = %+v, want every Linux scheduler, complete", got)
	}
	if err := f.AddVirtualServer(model.VirtualServer{VSKey: ProbeKey, Scheduler: "nosuch"}); !errors.Is(err, ErrSchedulerMissing) {
		t.Errorf("AddVirtualServer(nosuch) = %v, want ErrSchedulerMissing", err)
	}
}
