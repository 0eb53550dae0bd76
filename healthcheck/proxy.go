package healthcheck

import (
	"net"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// ToBeDeletedTaint is the taint the Cluster Autoscaler puts on a node it is
// about to delete. A node carrying it fails /healthz so that load balancers
// stop sending new connections before the node goes away (KEP-3836).
const ToBeDeletedTaint = "ToBeDeletedByClusterAutoscaler"

// DefaultBindAddress is kube-proxy's --healthz-bind-address default.
const DefaultBindAddress = "0.0.0.0:10256"

// DefaultTimeout is the health timeout used when ProxyConfig.Timeout is
// zero: TimeoutForSyncPeriod of kube-proxy's default sync period (30s).
const DefaultTimeout = 60 * time.Second

// TimeoutForSyncPeriod returns the health timeout kube-proxy derives from
// its sync period (--ipvs-sync-period): twice the period.
func TimeoutForSyncPeriod(syncPeriod time.Duration) time.Duration {
	return 2 * syncPeriod
}

// ProxyConfig configures a ProxyServer. The zero value is usable: it binds
// DefaultBindAddress, uses DefaultTimeout, the real clock, the IPv4 family
// and counts nothing.
type ProxyConfig struct {
	// BindAddress is the host:port Run listens on (--healthz-bind-address).
	// Ignored when Listener is set.
	BindAddress string
	// Listener, when set, is what Run serves on instead of listening on
	// BindAddress; Run closes it. Tests pass a 127.0.0.1:0 listener.
	Listener net.Listener
	// Timeout is how long a queued update may wait for a successful sync
	// before the proxy counts as unhealthy (see TimeoutForSyncPeriod).
	Timeout time.Duration
	// IPFamilies are the families the proxy programs. Each gets an entry
	// in the "status" field of the JSON answer; QueuedUpdate and Updated
	// apply to all of them, because one sync loop programs them all.
	IPFamilies []v1.IPFamily
	// Clock defaults to the real clock; tests pass a fake one.
	Clock clock.PassiveClock
	// Metrics counts the answers; nil counts nothing.
	Metrics Metrics
}

// ProxyServer tracks the proxy's health and serves /healthz and /livez.
// All its methods are safe for concurrent use.
//
// The proxy is healthy unless an update was queued (QueuedUpdate) and no
// sync has completed (Updated) during the Timeout since the oldest such
// update. Before the first Updated it is healthy whatever was queued, as in
// kube-proxy: the daemon calls Updated once when its sync loop starts, so a
// first sync that never succeeds turns it unhealthy after Timeout.
//
// /healthz answers 200 when the proxy is healthy, the node is eligible and
// the process is not in lame duck; /livez answers 200 when the proxy is
// healthy, whatever the node or the lame duck. Both answer 503 otherwise.
type ProxyServer struct {
	cfg ProxyConfig

	mu sync.RWMutex
	// lastUpdated is the time of the last Updated; zero before the first.
	lastUpdated time.Time
	// oldestQueued is the time of the first QueuedUpdate since the last
	// Updated; zero when nothing is pending.
	oldestQueued time.Time
	nodeEligible bool
	lameDuck     bool
}

// NewProxyServer returns a ProxyServer; start serving with Run.
func NewProxyServer(cfg ProxyConfig) *ProxyServer {
	if cfg.BindAddress == "" {
		cfg.BindAddress = DefaultBindAddress
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if len(cfg.IPFamilies) == 0 {
		cfg.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	// The node is eligible until a node event says otherwise, so that a
	// proxy starting before its node informer has synced is not failed.
	return &ProxyServer{cfg: cfg, nodeEligible: true}
}

// QueuedUpdate records that changes are waiting to be synced. Only the
// first call after an Updated counts: the timeout runs from the oldest
// pending change, however many follow.
func (s *ProxyServer) QueuedUpdate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oldestQueued.IsZero() {
		s.oldestQueued = s.cfg.Clock.Now()
	}
}

// Updated records that a sync completed with nothing failing: the kernel
// matches everything queued so far.
func (s *ProxyServer) Updated() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastUpdated = s.cfg.Clock.Now()
	s.oldestQueued = time.Time{}
}

// SyncNode records whether this node is eligible for load-balancer
// traffic: it is not when it is being deleted (deletionTimestamp set) or
// tainted ToBeDeletedTaint. A nil node (deleted from the API) is not
// eligible.
func (s *ProxyServer) SyncNode(node *v1.Node) {
	eligible := nodeEligible(node)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodeEligible = eligible
}

func nodeEligible(node *v1.Node) bool {
	if node == nil || !node.DeletionTimestamp.IsZero() {
		return false
	}
	for _, taint := range node.Spec.Taints {
		if taint.Key == ToBeDeletedTaint {
			return false
		}
	}
	return true
}

// StartLameDuck makes /healthz and the service health servers answer 503
// from now on, so that load balancers move away before the process exits.
// /livez is unaffected. There is no way back: it is called on SIGTERM.
func (s *ProxyServer) StartLameDuck() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lameDuck = true
}

// LameDuck reports whether StartLameDuck was called.
func (s *ProxyServer) LameDuck() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lameDuck
}

// NodeEligible reports the node eligibility last recorded by SyncNode
// (true before the first call).
func (s *ProxyServer) NodeEligible() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nodeEligible
}

// IsHealthy reports the proxy's own health, ignoring the node and the lame
// duck: what /livez reports and what the service health servers call
// serviceProxyHealthy.
func (s *ProxyServer) IsHealthy() bool {
	return s.Health().Healthy
}

// Health returns the proxy's health as /livez reports it, without the
// lastUpdated rewrite of healthy answers (see ProxyHealth).
func (s *ProxyServer) Health() ProxyHealth {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.cfg.Clock.Now()
	healthy := s.lastUpdated.IsZero() || s.oldestQueued.IsZero() ||
		now.Sub(s.oldestQueued) < s.cfg.Timeout
	h := ProxyHealth{
		LastUpdated: s.lastUpdated,
		CurrentTime: now,
		Healthy:     healthy,
	}
	if !s.lastUpdated.IsZero() {
		h.Status = make(map[v1.IPFamily]ProxierHealth, len(s.cfg.IPFamilies))
		for _, family := range s.cfg.IPFamilies {
			h.Status[family] = ProxierHealth{LastUpdated: s.lastUpdated, Healthy: healthy}
		}
	}
	return h
}

// ProxyHealth is the JSON body of /healthz and /livez, field for field
// kube-proxy's. In an answer with status 200, LastUpdated is the current
// time: older kube-proxy releases reported the last time the sync loop ran
// even when nothing changed, and kube-proxy keeps that meaning ("recent
// when healthy"); in a 503 answer it is the time of the last successful
// sync (zero before the first).
type ProxyHealth struct {
	LastUpdated time.Time `json:"lastUpdated"`
	CurrentTime time.Time `json:"currentTime"`
	// NodeEligible is set in /healthz answers only.
	NodeEligible *bool `json:"nodeEligible,omitempty"`
	// Healthy is the proxy's own health, without the node eligibility.
	Healthy bool `json:"healthy"`
	// Status is the health per IP family; absent before the first sync.
	Status map[v1.IPFamily]ProxierHealth `json:"status,omitempty"`
	// LameDuck is our addition, set only in /healthz answers during the
	// lame duck; kube-proxy has no such phase.
	LameDuck bool `json:"lameDuck,omitempty"`
}

// ProxierHealth is the health of the proxy for one IP family.
type ProxierHealth struct {
	LastUpdated time.Time `json:"lastUpdated"`
	Healthy     bool      `json:"healthy"`
}
