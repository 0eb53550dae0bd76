package proxier

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Per-service scheduler annotations: ours, and kube-router's for users
// migrating from it. Ours win when both are set.
const (
	AnnotationScheduler                  = "ipvs-proxy.io/scheduler"
	AnnotationSchedulerFlags             = "ipvs-proxy.io/scheduler-flags"
	AnnotationKubeRouterScheduler        = "kube-router.io/service.scheduler"
	AnnotationKubeRouterSchedFlags       = "kube-router.io/service.schedflags"
	annotationLBSourceRangesLegacy       = "service.beta.kubernetes.io/load-balancer-source-ranges"
	maxAffinityTimeoutSeconds      int32 = 86400
)

// Schedulers are the IPVS schedulers of mainline Linux
// (net/netfilter/ipvs/Kconfig): the eleven kube-proxy's documentation
// lists, and fo, ovf and twos (twos is newer than Debian 12's 6.1). A
// kernel may lack some and offer out-of-tree ones: the daemon finds at
// start those it offers (Config.Schedulers).
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh", "fo", "ovf", "twos"}

// maxSchedulerName is the longest scheduler name the kernel takes
// (IP_VS_SCHEDNAME_MAXLEN, 16 bytes with the terminating NUL).
const maxSchedulerName = 15

// schedFlagTokens maps flag names to bits, per scheduler that accepts them.
// kube-router's flag-N names apply to sh and mh alike.
var schedFlagTokens = map[string]struct {
	sched string
	bit   model.SchedFlags
}{
	"sh-fallback": {"sh", model.FlagSched1},
	"sh-port":     {"sh", model.FlagSched2},
	"mh-fallback": {"mh", model.FlagSched1},
	"mh-port":     {"mh", model.FlagSched2},
	"flag-1":      {"", model.FlagSched1},
	"flag-2":      {"", model.FlagSched2},
	"flag-3":      {"", model.FlagSched3},
}

// ValidScheduler reports whether name is a scheduler of mainline Linux.
func ValidScheduler(name string) bool { return slices.Contains(Schedulers, name) }

// WellFormedScheduler reports whether name can name an IPVS scheduler: at
// most 15 lowercase letters, digits or underscores (the kernel loads module
// ip_vs_<name> for it). Whether the node's kernel offers it is checked at
// start, not here.
func WellFormedScheduler(name string) bool {
	if name == "" || len(name) > maxSchedulerName {
		return false
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// DefaultSchedFlags are the flags a scheduler gets when a service's
// annotation names it without flags: the fallback flag of the hash
// schedulers sh and mh, which kube-proxy never sets (kubernetes#121590 for
// sh; #139497 and PR #138688 for mh). A hash scheduler sends a client to
// the real server its hash picks whatever that server's weight: sh keeps a
// weight-0 real server in its table like any other, and mh keeps its slots
// because the kernel remembers its last non-zero weight (kernel commit
// a2c09ac0fb67, "Keep latest weight of destination"). Without the fallback
// flag the kernel then finds no destination for the clients that hash to a
// draining (weight 0) real server and refuses their new connections ("no
// destination available") until it is deleted; with it, they go on to the
// next real server of the table.
func DefaultSchedFlags(sched string) model.SchedFlags {
	if sched == "sh" || sched == "mh" {
		return model.FlagSched1
	}
	return 0
}

// ConfigSchedFlags are the flags of the default scheduler (--ipvs-scheduler):
// kube-proxy's, mh-port for mh and nothing for any other
// (pkg/proxy/ipvs/proxier.go: "Set the source hash flag needed for the
// distribution method mh", FlagSourceHash 0x10), plus DefaultSchedFlags'
// fallback flag. An annotated mh keeps hashing the client's address alone
// (mh-fallback): a client then sticks to one real server, unless the
// annotation asks for mh-port.
func ConfigSchedFlags(sched string) model.SchedFlags {
	f := DefaultSchedFlags(sched)
	if sched == "mh" {
		f |= model.FlagSched2
	}
	return f
}

// ParseSchedFlags parses a comma-separated flag list for a scheduler.
func ParseSchedFlags(sched, list string) (model.SchedFlags, error) {
	var f model.SchedFlags
	for _, tok := range strings.Split(list, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		t, ok := schedFlagTokens[tok]
		if !ok {
			return 0, fmt.Errorf("unknown scheduler flag %q", tok)
		}
		if t.sched != "" && t.sched != sched || t.sched == "" && sched != "sh" && sched != "mh" {
			return 0, fmt.Errorf("scheduler flag %q does not apply to scheduler %q", tok, sched)
		}
		f |= t.bit
	}
	return f, nil
}

// virtualServerTemplate returns the scheduler, flags and persistence every
// virtual server of the service shares.
func (b *serviceBuilder) virtualServerTemplate() model.VirtualServer {
	vs := model.VirtualServer{Scheduler: b.cfg.scheduler()}
	vs.Flags = ConfigSchedFlags(vs.Scheduler)
	if !b.cfg.DisableSchedulerAnnotations {
		if s, f, ok := b.annotatedScheduler(); ok {
			vs.Scheduler, vs.Flags = s, f
		}
	}
	if b.svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		vs.Flags |= model.FlagPersistent
		vs.Timeout = DefaultAffinityTimeout
		if c := b.svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			t := *c.ClientIP.TimeoutSeconds
			if t > 0 && t <= maxAffinityTimeoutSeconds {
				vs.Timeout = uint32(t)
			} else {
				b.problem("sessionAffinityConfig.clientIP.timeoutSeconds %d out of range 1-%d; using %d", t, maxAffinityTimeoutSeconds, DefaultAffinityTimeout)
			}
		}
	}
	return vs
}

// annotatedScheduler reads the per-service scheduler annotations. It returns
// ok=false when none is set or when one is invalid (reported; the service
// keeps the default scheduler).
func (b *serviceBuilder) annotatedScheduler() (string, model.SchedFlags, bool) {
	schedKey, flagsKey := AnnotationScheduler, AnnotationSchedulerFlags
	sched, hasSched := b.svc.Annotations[schedKey]
	if !hasSched {
		if s, ok := b.svc.Annotations[AnnotationKubeRouterScheduler]; ok {
			schedKey, flagsKey, sched, hasSched = AnnotationKubeRouterScheduler, AnnotationKubeRouterSchedFlags, s, true
		}
	}
	if !hasSched {
		if _, ok := b.svc.Annotations[AnnotationSchedulerFlags]; ok {
			b.problem("annotation %s is set without %s; ignored", AnnotationSchedulerFlags, AnnotationScheduler)
		}
		return "", 0, false
	}
	sched = strings.TrimSpace(sched)
	if why := b.cfg.unavailableScheduler(sched); why != "" {
		b.problem("annotation %s: %s; using the default scheduler", schedKey, why)
		return "", 0, false
	}
	list, hasFlags := b.svc.Annotations[flagsKey]
	if !hasFlags {
		return sched, DefaultSchedFlags(sched), true
	}
	flags, err := ParseSchedFlags(sched, list)
	if err != nil {
		b.problem("annotation %s: %v; using the default scheduler", flagsKey, err)
		return "", 0, false
	}
	return sched, flags, true
}

// unavailableScheduler says why a service may not use scheduler name, or
// returns "" when it may: it must be one the node's kernel offers
// (Config.Schedulers).
func (c *Config) unavailableScheduler(name string) string {
	offered := c.Schedulers
	if offered == nil {
		offered = Schedulers
	}
	switch {
	case slices.Contains(offered, name):
		return ""
	case ValidScheduler(name):
		return fmt.Sprintf("scheduler %q is not available in this node's kernel (no module %s; it offers %s)",
			name, "ip_vs_"+name, strings.Join(offered, ", "))
	}
	return fmt.Sprintf("unknown scheduler %q", name)
}

// sourceRanges parses loadBalancerSourceRanges (or the legacy annotation
// when the field is empty). Invalid entries are reported and skipped.
func (b *serviceBuilder) sourceRanges() []netip.Prefix {
	if b.svc.Spec.Type != v1.ServiceTypeLoadBalancer {
		return nil
	}
	raw := b.svc.Spec.LoadBalancerSourceRanges
	field := "loadBalancerSourceRanges"
	if len(raw) == 0 {
		if a := b.svc.Annotations[annotationLBSourceRangesLegacy]; a != "" {
			raw, field = strings.Split(a, ","), "annotation "+annotationLBSourceRangesLegacy
		}
	}
	var out []netip.Prefix
	for _, r := range raw {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		p, err := netip.ParsePrefix(r)
		if err != nil {
			b.problem("%s: %q is not a valid CIDR; skipped", field, r)
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}
