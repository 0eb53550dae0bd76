package proxier

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func TestBuildSchedulers(t *testing.T) {
	cases := []struct {
		name      string
		cfg       Config
		ann       []string
		wantSched string
		wantFlags model.SchedFlags
		problems  []string
	}{
		{name: "default is rr", wantSched: "rr"},
		{name: "global scheduler from config", cfg: Config{Scheduler: "wlc"}, wantSched: "wlc"},
		{name: "global sh gets its fallback flag", cfg: Config{Scheduler: "sh"}, wantSched: "sh", wantFlags: model.FlagSched1},
		// kube-proxy v1.37.2 pkg/proxy/ipvs/proxier.go sets FlagSourceHash
		// (0x10, mh-port) on every virtual server when its scheduler is mh,
		// and no flag for sh; the fallback flag is ours (DefaultSchedFlags).
		{name: "global mh gets kube-proxy's mh-port and the fallback", cfg: Config{Scheduler: "mh"},
			wantSched: "mh", wantFlags: model.FlagSched1 | model.FlagSched2},
		{name: "an annotation falling back gets the global scheduler's flags", cfg: Config{Scheduler: "mh"}, ann: []string{AnnotationScheduler, "fastest"},
			wantSched: "mh", wantFlags: model.FlagSched1 | model.FlagSched2, problems: []string{`unknown scheduler "fastest"`}},
		{name: "annotation picks the scheduler", ann: []string{AnnotationScheduler, "lc"}, wantSched: "lc"},
		{name: "annotated sh gets sh-fallback", ann: []string{AnnotationScheduler, "sh"}, wantSched: "sh", wantFlags: model.FlagSched1},
		{name: "annotated mh gets mh-fallback", ann: []string{AnnotationScheduler, "mh"}, wantSched: "mh", wantFlags: model.FlagSched1},
		{name: "explicit flags are taken as given", ann: []string{AnnotationScheduler, "sh", AnnotationSchedulerFlags, "sh-fallback, sh-port"},
			wantSched: "sh", wantFlags: model.FlagSched1 | model.FlagSched2},
		{name: "explicit port-only flags drop the fallback", ann: []string{AnnotationScheduler, "mh", AnnotationSchedulerFlags, "mh-port"},
			wantSched: "mh", wantFlags: model.FlagSched2},
		{name: "kube-router annotations are accepted", ann: []string{AnnotationKubeRouterScheduler, "sh", AnnotationKubeRouterSchedFlags, "flag-1,flag-2"},
			wantSched: "sh", wantFlags: model.FlagSched1 | model.FlagSched2},
		{name: "ours win over kube-router's", ann: []string{AnnotationScheduler, "wrr", AnnotationKubeRouterScheduler, "sh"}, wantSched: "wrr"},
		{name: "unknown scheduler falls back to the default", cfg: Config{Scheduler: "wrr"}, ann: []string{AnnotationScheduler, "fastest"},
			wantSched: "wrr", problems: []string{`unknown scheduler "fastest"`}},
		{name: "flags of another scheduler fall back to the default", ann: []string{AnnotationScheduler, "sh", AnnotationSchedulerFlags, "mh-port"},
			wantSched: "rr", problems: []string{`does not apply to scheduler "sh"`}},
		{name: "unknown flag falls back to the default", ann: []string{AnnotationScheduler, "sh", AnnotationSchedulerFlags, "turbo"},
			wantSched: "rr", problems: []string{`unknown scheduler flag "turbo"`}},
		{name: "generic flags need a hash scheduler", ann: []string{AnnotationScheduler, "rr", AnnotationSchedulerFlags, "flag-1"},
			wantSched: "rr", problems: []string{`does not apply`}},
		{name: "flags without scheduler are reported", ann: []string{AnnotationSchedulerFlags, "sh-port"},
			wantSched: "rr", problems: []string{"set without"}},
		{name: "annotations ignored when the feature gate is off", cfg: Config{DisableSchedulerAnnotations: true},
			ann: []string{AnnotationScheduler, "sh"}, wantSched: "rr"},
		// Config.Schedulers: what the node's kernel offers, found at start.
		{name: "a scheduler outside kube-proxy's list is accepted when the kernel offers it", cfg: Config{Schedulers: []string{"rr", "twos"}},
			ann: []string{AnnotationScheduler, "twos"}, wantSched: "twos"},
		{name: "a scheduler the kernel lacks falls back to the default", cfg: Config{Scheduler: "wlc", Schedulers: []string{"rr", "wlc", "sh"}},
			ann: []string{AnnotationScheduler, "twos"}, wantSched: "wlc",
			problems: []string{`scheduler "twos" is not available in this node's kernel (no module ip_vs_twos; it offers rr, wlc, sh)`}},
		{name: "even one of kube-proxy's", cfg: Config{Schedulers: []string{"rr"}},
			ann: []string{AnnotationScheduler, "mh"}, wantSched: "rr", problems: []string{`scheduler "mh" is not available`}},
		{name: "an out-of-tree scheduler the kernel offers is accepted", cfg: Config{Schedulers: []string{"rr", "mine"}},
			ann: []string{AnnotationScheduler, "mine"}, wantSched: "mine"},
		{name: "without the kernel's list (plan), every scheduler of Linux is accepted", ann: []string{AnnotationScheduler, "ovf"}, wantSched: "ovf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svcs := []*v1.Service{makeService("ns", "web", annotate(tc.ann...), nodePort(30080)), makeService("ns", "other", clusterIPs("198.18.0.11"))}
			st, problems := Build(svcs, []*discovery.EndpointSlice{twoBackends("web")}, testNode(), tc.cfg)
			for _, k := range []string{"tcp 198.18.0.10:80", "tcp 198.18.1.1:30080"} {
				vs := st.Services[vsKey(t, k)].VirtualServer
				if vs.Scheduler != tc.wantSched || vs.Flags != tc.wantFlags {
					t.Errorf("%s: scheduler %s flags %#x, want %s %#x", k, vs.Scheduler, vs.Flags, tc.wantSched, tc.wantFlags)
				}
			}
			// A bad annotation never affects another service.
			if other := st.Services[vsKey(t, "tcp 198.18.0.11:80")]; other == nil || other.Scheduler != tc.cfg.scheduler() {
				t.Errorf("other service affected: %+v", other)
			}
			expectProblems(t, problems, tc.problems...)
		})
	}
}

func TestSchedFlagNames(t *testing.T) {
	for _, tc := range []struct {
		sched string
		flags model.SchedFlags
		want  string
	}{
		{"sh", model.FlagSched1 | model.FlagSched2, "sh-fallback,sh-port"},
		{"mh", model.FlagSched2, "mh-port"},
		{"rr", model.FlagSched3, "flag-3"},
		{"rr", model.FlagPersistent, ""},
	} {
		if got := model.SchedFlagNames(tc.sched, tc.flags); got != tc.want {
			t.Errorf("SchedFlagNames(%s, %#x) = %q, want %q", tc.sched, tc.flags, got, tc.want)
		}
	}
}

func TestWellFormedScheduler(t *testing.T) {
	for name, want := range map[string]bool{
		"rr": true, "twos": true, "my_sched2": true, "abcdefghijklmno": true,
		"": false, "abcdefghijklmnop": false, "RR": false, "round robin": false, "ip-vs": false,
	} {
		if got := WellFormedScheduler(name); got != want {
			t.Errorf("WellFormedScheduler(%q) = %v, want %v", name, got, want)
		}
	}
}
