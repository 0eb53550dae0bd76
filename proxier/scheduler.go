package proxier

import (
	"fmt"
	"net/netip"
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

// Schedulers are the IPVS schedulers a service may ask for.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh"}

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

// ValidScheduler reports whether name is a known IPVS scheduler.
func ValidScheduler(name string) bool {
	for _, s := range Schedulers {
		if s == name {
			return true
		}
	}
	return false
}

// DefaultSchedFlags are the flags a scheduler gets when none are given: the
// hash schedulers skip weight-0 (draining) real servers only with their
// fallback flag, so they always get it unless told otherwise
// (kubernetes#121590).
func DefaultSchedFlags(sched string) model.SchedFlags {
	if sched == "sh" || sched == "mh" {
		return model.FlagSched1
	}
	return 0
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
	vs.Flags = DefaultSchedFlags(vs.Scheduler)
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
	if !ValidScheduler(sched) {
		b.problem("annotation %s: unknown scheduler %q; using the default scheduler", schedKey, sched)
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
