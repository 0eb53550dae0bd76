//go:build e2eguest

package scenarios

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// affinityTimeout is the service's sessionAffinityConfig timeout.
const affinityTimeout = 30

// clientIPAffinity sets sessionAffinity ClientIP with a timeout.
func clientIPAffinity(seconds int32) func(*v1.Service) {
	return func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: new(int32(seconds))}}
	}
}

// Test02Affinity: with sessionAffinity ClientIP, every connection of a
// client goes to the same backend (where rr alone would spread them 5/5/5),
// for two clients and in both families; the kernel's virtual server is
// persistent with the service's timeout.
func Test02Affinity(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	clients := []*guest.Netns{e.client("client1", 200), e.client("client2", 201)}
	svc := e.service("web", clientIPAffinity(affinityTimeout))
	e.slices(svc, readyPods(pods...)...)
	e.daemon()
	for _, v6 := range []bool{false, true} {
		vip := e.clusterIP(svc, v6)
		e.waitWeights(vip, "tcp", weights(v6, 1, pods...))
		vs, _, err := guest.Service(vip, "tcp")
		e.must(err, "reading the virtual server")
		if vs.Flags&ipvsPersistent == 0 || vs.Timeout != affinityTimeout {
			t.Errorf("%s: virtual server %s has flags %#x and timeout %d, want persistent with %d",
				family(v6), vip, vs.Flags, vs.Timeout, affinityTimeout)
		}
		for _, cl := range clients {
			got, err := cl.Spread(vip, 15)
			e.must(err, "connecting with affinity")
			if len(got) != 1 {
				t.Errorf("%s: 15 connections from %s went %v, want all to one backend", family(v6), cl.Name, got)
			} else {
				t.Logf("%s: 15 connections from %s went %v", family(v6), cl.Name, got)
			}
		}
	}
}

// IPVS service flags (include/uapi/linux/ip_vs.h).
const (
	ipvsPersistent = 0x1
	ipvsSched1     = 0x8
)
