package healthcheck

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const testTimeout = 60 * time.Second

// rig is a ProxyServer on a fake clock with a metrics recorder.
type rig struct {
	clock   *testingclock.FakeClock
	server  *ProxyServer
	metrics *Recorder
}

func newRig(mutators ...func(*ProxyConfig)) *rig {
	r := &rig{clock: testingclock.NewFakeClock(t0), metrics: &Recorder{}}
	cfg := ProxyConfig{Timeout: testTimeout, Clock: r.clock, Metrics: r.metrics}
	for _, m := range mutators {
		m(&cfg)
	}
	r.server = NewProxyServer(cfg)
	return r
}

// get answers path with the server's handler and decodes the JSON body.
func (r *rig) get(t *testing.T, path string) (int, ProxyHealth) {
	t.Helper()
	rec := httptest.NewRecorder()
	r.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	checkHeaders(t, rec.Result().Header)
	var body ProxyHealth
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET %s: decoding %q: %v", path, rec.Body.String(), err)
	}
	return rec.Code, body
}

func checkHeaders(t *testing.T, h http.Header) {
	t.Helper()
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
}

// health builds an expected body; family status entries are given as
// lastUpdated times, all with the given health.
func health(lastUpdated, now time.Time, healthy bool, eligible *bool, familyUpdated ...time.Time) ProxyHealth {
	h := ProxyHealth{LastUpdated: lastUpdated, CurrentTime: now, Healthy: healthy, NodeEligible: eligible}
	if len(familyUpdated) > 0 {
		h.Status = map[v1.IPFamily]ProxierHealth{
			v1.IPv4Protocol: {LastUpdated: familyUpdated[0], Healthy: healthy},
		}
	}
	return h
}

func ptrTo[T any](v T) *T { return &v }

// TestTimeline walks /healthz and /livez through kube-proxy's health rule:
// unhealthy once an update has been queued for Timeout without a sync.
func TestTimeline(t *testing.T) {
	r := newRig()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	yes := ptrTo(true)
	steps := []struct {
		name    string
		do      func()
		status  int
		healthz ProxyHealth
	}{{
		name:    "fresh: no sync yet",
		do:      func() {},
		status:  http.StatusOK,
		healthz: health(t0, t0, true, yes),
	}, {
		name:    "queued before the first sync: still healthy, as in kube-proxy",
		do:      func() { r.server.QueuedUpdate(); r.clock.Step(10 * time.Minute) },
		status:  http.StatusOK,
		healthz: health(at(10*time.Minute), at(10*time.Minute), true, yes),
	}, {
		name:    "first sync",
		do:      func() { r.server.Updated() },
		status:  http.StatusOK,
		healthz: health(at(10*time.Minute), at(10*time.Minute), true, yes, at(10*time.Minute)),
	}, {
		name:    "idle for an hour: healthy, lastUpdated reads as now",
		do:      func() { r.clock.Step(time.Hour) },
		status:  http.StatusOK,
		healthz: health(at(70*time.Minute), at(70*time.Minute), true, yes, at(10*time.Minute)),
	}, {
		name:    "queued, waiting 59s: within the timeout",
		do:      func() { r.server.QueuedUpdate(); r.clock.Step(59 * time.Second) },
		status:  http.StatusOK,
		healthz: health(at(70*time.Minute+59*time.Second), at(70*time.Minute+59*time.Second), true, yes, at(10*time.Minute)),
	}, {
		name: "queued again, oldest has waited 60s: stale",
		do:   func() { r.server.QueuedUpdate(); r.clock.Step(time.Second) },
		// lastUpdated is the last sync in an unhealthy answer.
		status:  http.StatusServiceUnavailable,
		healthz: health(at(10*time.Minute), at(71*time.Minute), false, yes, at(10*time.Minute)),
	}, {
		name:    "updated again",
		do:      func() { r.server.Updated(); r.clock.Step(5 * time.Second) },
		status:  http.StatusOK,
		healthz: health(at(71*time.Minute+5*time.Second), at(71*time.Minute+5*time.Second), true, yes, at(71*time.Minute)),
	}, {
		name: "queued twice 30s apart: the timeout runs from the oldest",
		do: func() {
			r.server.QueuedUpdate()
			r.clock.Step(30 * time.Second)
			r.server.QueuedUpdate()
			r.clock.Step(30 * time.Second)
		},
		status:  http.StatusServiceUnavailable,
		healthz: health(at(71*time.Minute), at(72*time.Minute+5*time.Second), false, yes, at(71*time.Minute)),
	}, {
		name:    "a sync clears every pending update",
		do:      func() { r.server.Updated() },
		status:  http.StatusOK,
		healthz: health(at(72*time.Minute+5*time.Second), at(72*time.Minute+5*time.Second), true, yes, at(72*time.Minute+5*time.Second)),
	}}
	for _, step := range steps {
		step.do()
		status, got := r.get(t, "/healthz")
		if status != step.status {
			t.Errorf("%s: /healthz status = %d, want %d", step.name, status, step.status)
		}
		if diff := cmp.Diff(step.healthz, got); diff != "" {
			t.Errorf("%s: /healthz body (-want +got):\n%s", step.name, diff)
		}
		// /livez reports the same health without nodeEligible.
		status, got = r.get(t, "/livez")
		wantLivez := step.healthz
		wantLivez.NodeEligible = nil
		if status != step.status {
			t.Errorf("%s: /livez status = %d, want %d", step.name, status, step.status)
		}
		if diff := cmp.Diff(wantLivez, got); diff != "" {
			t.Errorf("%s: /livez body (-want +got):\n%s", step.name, diff)
		}
	}
	want := map[int]int{200: 7, 503: 2}
	if diff := cmp.Diff(want, r.metrics.Healthz()); diff != "" {
		t.Errorf("healthz counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, r.metrics.Livez()); diff != "" {
		t.Errorf("livez counts (-want +got):\n%s", diff)
	}
}

func makeNode(mutators ...func(*v1.Node)) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	for _, m := range mutators {
		m(n)
	}
	return n
}

func tainted(key string) func(*v1.Node) {
	return func(n *v1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Effect: v1.TaintEffectNoSchedule})
	}
}

func deleting(n *v1.Node) { n.DeletionTimestamp = &metav1.Time{Time: t0} }

// TestNodeEligibility checks that a node going away fails /healthz but not
// /livez, and that the JSON says why.
func TestNodeEligibility(t *testing.T) {
	tests := []struct {
		name     string
		node     *v1.Node
		eligible bool
	}{
		{name: "plain node", node: makeNode(), eligible: true},
		{name: "other taint", node: makeNode(tainted("node.kubernetes.io/unschedulable")), eligible: true},
		{name: "ToBeDeletedByClusterAutoscaler", node: makeNode(tainted(ToBeDeletedTaint)), eligible: false},
		{name: "deletionTimestamp set", node: makeNode(deleting), eligible: false},
		{name: "node deleted from the API", node: nil, eligible: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig()
			r.server.Updated()
			// Ineligible first, so every case proves SyncNode sets the value.
			r.server.SyncNode(makeNode(deleting))
			r.server.SyncNode(tc.node)

			status, got := r.get(t, "/healthz")
			want := health(t0, t0, true, ptrTo(tc.eligible), t0)
			wantStatus := http.StatusOK
			if !tc.eligible {
				wantStatus = http.StatusServiceUnavailable
			}
			if status != wantStatus {
				t.Errorf("/healthz status = %d, want %d", status, wantStatus)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("/healthz body (-want +got):\n%s", diff)
			}
			if status, _ := r.get(t, "/livez"); status != http.StatusOK {
				t.Errorf("/livez status = %d, want 200 whatever the node", status)
			}
			if r.server.NodeEligible() != tc.eligible || !r.server.IsHealthy() {
				t.Errorf("NodeEligible, IsHealthy = %v, %v; want %v, true",
					r.server.NodeEligible(), r.server.IsHealthy(), tc.eligible)
			}
		})
	}
}

// TestLameDuck checks that the lame duck fails /healthz whatever else, and
// leaves /livez alone.
func TestLameDuck(t *testing.T) {
	tests := []struct {
		name       string
		stale      bool
		livez      int
		wantHealth ProxyHealth
	}{{
		name:       "healthy proxy",
		livez:      http.StatusOK,
		wantHealth: health(t0.Add(time.Minute), t0.Add(time.Minute), true, ptrTo(true), t0.Add(time.Minute)),
	}, {
		name:       "stale proxy",
		stale:      true,
		livez:      http.StatusServiceUnavailable,
		wantHealth: health(t0.Add(time.Minute), t0.Add(2*time.Minute), false, ptrTo(true), t0.Add(time.Minute)),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig()
			r.clock.Step(time.Minute)
			r.server.Updated()
			if tc.stale {
				r.server.QueuedUpdate()
				r.clock.Step(time.Minute)
			}
			if r.server.LameDuck() {
				t.Fatal("LameDuck before StartLameDuck")
			}
			r.server.StartLameDuck()
			if !r.server.LameDuck() {
				t.Fatal("LameDuck false after StartLameDuck")
			}

			status, got := r.get(t, "/healthz")
			want := tc.wantHealth
			want.LameDuck = true
			if status != http.StatusServiceUnavailable {
				t.Errorf("/healthz status = %d, want 503", status)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("/healthz body (-want +got):\n%s", diff)
			}
			if status, got := r.get(t, "/livez"); status != tc.livez || got.LameDuck {
				t.Errorf("/livez = %d lameDuck=%v, want %d without lameDuck", status, got.LameDuck, tc.livez)
			}
		})
	}
}

// TestJSONFields pins the field names and format of /healthz against
// kube-proxy's, byte for byte.
func TestJSONFields(t *testing.T) {
	r := newRig(func(c *ProxyConfig) { c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol} })
	r.server.Updated()
	r.clock.Step(90 * time.Second)
	tests := []struct {
		path, want string
	}{{
		path: "/healthz",
		want: `{"lastUpdated":"2026-01-02T03:05:35Z","currentTime":"2026-01-02T03:05:35Z","nodeEligible":true,"healthy":true,` +
			`"status":{"IPv4":{"lastUpdated":"2026-01-02T03:04:05Z","healthy":true},"IPv6":{"lastUpdated":"2026-01-02T03:04:05Z","healthy":true}}}`,
	}, {
		path: "/livez",
		want: `{"lastUpdated":"2026-01-02T03:05:35Z","currentTime":"2026-01-02T03:05:35Z","healthy":true,` +
			`"status":{"IPv4":{"lastUpdated":"2026-01-02T03:04:05Z","healthy":true},"IPv6":{"lastUpdated":"2026-01-02T03:04:05Z","healthy":true}}}`,
	}}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if got := rec.Body.String(); got != tc.want {
				t.Errorf("body:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestUnknownPath(t *testing.T) {
	r := newRig()
	rec := httptest.NewRecorder()
	r.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics = %d, want 404", rec.Code)
	}
	if n := len(r.metrics.Healthz()) + len(r.metrics.Livez()); n != 0 {
		t.Errorf("counted %d answers for an unknown path", n)
	}
}

func TestTimeoutForSyncPeriod(t *testing.T) {
	if got := TimeoutForSyncPeriod(30 * time.Second); got != DefaultTimeout {
		t.Errorf("TimeoutForSyncPeriod(30s) = %v, want %v", got, DefaultTimeout)
	}
}
