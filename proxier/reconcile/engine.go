package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Source gives the engine the current Kubernetes objects. The tracker's
// store implements it; lookups must cost O(one service), not O(all), and
// be safe to make from several goroutines at once (buildAll).
type Source interface {
	Service(name types.NamespacedName) *v1.Service
	EndpointSlices(name types.NamespacedName) []*proxier.Slice
	ServiceNames() []types.NamespacedName
}

// Addresses is what the engine needs from the address adapter.
type Addresses interface {
	// List returns the addresses bound on the dummy interface.
	List() ([]netip.Addr, error)
	// BindAll binds addresses in as few round trips as it can; an
	// already bound one is not an error. errs[i] is addrs[i]'s result.
	BindAll(addrs []netip.Addr) (errs []error)
	// Unbind unbinds an address; a missing one is not an error.
	Unbind(a netip.Addr) error
}

// Netfilter is what the engine needs from the netfilter adapter.
type Netfilter interface {
	// Apply replaces the whole netfilter program in one transaction.
	Apply(n *model.Netfilter) error
	// Update changes the program from old, which must be what the kernel
	// holds, to new in one transaction, writing only what differs; changed,
	// when not nil, names every group in which they may differ, and only
	// those are looked at.
	Update(old, new *model.Netfilter, changed *model.NetfilterGroups) error
	// Snapshot reads the program back: its Verify(n) returns an error
	// when it differs from what Apply(n) writes (drift), its Record the
	// ports and node ports it holds (at start, the record of the virtual
	// servers a previous run created; see Owner and adopt.go). It may run
	// concurrently with Apply and Update.
	Snapshot() (model.NetfilterSnapshot, error)
	// Repair changes the program from what snapshot from read to what
	// Apply(n) writes, in one transaction, writing only the set elements
	// that differ when nothing else does (else, or when the kernel refuses
	// that, as Apply). from need not be current: the result is n's
	// program either way, or drift a later read-back finds.
	Repair(from model.NetfilterSnapshot, n *model.Netfilter) error
	// Generation returns the nf_tables generation ID, which every
	// committed transaction (anyone's) changes.
	Generation() (uint32, error)
}

// Conntrack is what the engine needs from the conntrack adapter.
type Conntrack interface {
	Clear(filters ...conntrack.Filter) (int, error)
}

// Config configures an Engine. IPVS, Addresses, Netfilter and Conntrack are
// required; Clock and Metrics default to the real clock and no metrics.
type Config struct {
	Build proxier.Config
	// Owner decides which kernel objects are ours; see Owner.
	Owner Owner
	// DrainTimeout bounds how long a real server whose endpoint vanished
	// without terminating is kept at weight 0.
	DrainTimeout time.Duration
	// NoNotReadyDrain deletes real servers whose endpoint vanished or
	// turned not-ready without terminating at once, instead of draining them
	// (feature gate NotReadyDrain off).
	NoNotReadyDrain bool
	IPVS            ipvs.Interface
	Addresses       Addresses
	Netfilter       Netfilter
	Conntrack       Conntrack
	Clock           clock.PassiveClock
	Metrics         Metrics
	// IPVSLister, when set, does the periodic repair's IPVS reads (the
	// virtual-server listing, the chunks' real servers) off the sync
	// goroutine (vslist.go); it must have netlink sockets of its own, not
	// IPVS's, whose calls it would otherwise hold up. Nil reads on the
	// sync goroutine.
	IPVSLister IPVSLister
	// AddressLister, when set, does the repair's address listing off the
	// sync goroutine, on sockets of its own (compare_addrs.go). Nil lists
	// on the sync goroutine.
	AddressLister AddressLister
	// NetfilterChecked, when set, is called from the goroutine of a
	// netfilter read-back started by CheckNetfilter once it has finished,
	// so that the caller collects it at once instead of at its next check
	// (the daemon passes the runner's TriggerCheck).
	NetfilterChecked func()
	// RepairChunk is how many virtual servers' real servers one step of
	// the periodic repair reads (see Repair); 0 means DefaultRepairChunk.
	RepairChunk int
	// DryRun logs every operation instead of performing it (the kernel is
	// still read); the engine then believes the operations succeeded.
	DryRun bool
}

// DefaultDrainTimeout is the default --drain-timeout. It is short on
// purpose: it only applies to endpoints that vanished without terminating
// (crashed pods, dead nodes), whose connections would otherwise hang until
// TCP gives up (about 15 minutes). A graceful shutdown is bounded by the
// pod's own grace period instead (its endpoint stays terminating at weight
// 0 with no timer).
const DefaultDrainTimeout = 10 * time.Second

// Engine keeps the kernel equal to the desired state. It is not safe for
// concurrent use: the runner calls it from one goroutine.
type Engine struct {
	cfg     Config
	clock   clock.PassiveClock
	metrics Metrics
	node    proxier.Node
	src     Source

	// desired is the assembled desired state: one fragment per service,
	// replaced as services change.
	desired *proxier.Assembler
	// nfStale is set when the netfilter intent must be recomputed although
	// the assembler's did not change (a virtual server became foreign or
	// ours, a write failed, the program drifted); nfIntent is the
	// assembler's netfilter generation last computed.
	nfStale  bool
	nfIntent uint64
	// healthGen is the assembler's health-check generation last returned
	// (healthSent: returned at least once).
	healthGen  uint64
	healthSent bool
	applied    *model.State // what we believe the kernel holds (ours only)
	// appliedReals counts the real servers in applied, kept by every change
	// of it (setApplied, record) so that Stats costs nothing: walking
	// applied on every check cost 10 ms at 10,000 services and 30 ms at
	// 100,000 on the host (BenchmarkPeriodicCheck), ten times that in the
	// test VM, and held up the changes queued behind the check.
	appliedReals int
	// shared are the applied virtual servers that are the desired state's
	// own *model.Service (see shareApplied): never changed in place.
	shared map[model.VSKey]struct{}
	drains drains
	// status holds every object that is not done (pending a retry or
	// failed): the one place retries are kept.
	status *statusTable
	// nfApplied is false until the netfilter intent was applied and
	// whenever applying it failed.
	nfApplied bool
	// started is set after the first full reconcile (adoption).
	started bool
	// recorded is what our netfilter program recorded at start of the
	// virtual servers a previous run created (see Owner and adopt.go);
	// nil once the kernel has been read whole.
	recorded *record
	// assumed are the virtual servers whose applied state no read has
	// confirmed since a restart's adoption assumed it (adopt.go): assumed
	// from the record, added, or unread since.
	assumed map[model.VSKey]struct{}
	// cycle is the periodic repair in progress, nil between cycles.
	cycle *repairCycle
	// nfGen counts netfilter writes; nfCheck is the read-back in progress;
	// nfVerified is the last clean read-back, started at nfVerifiedAt.
	nfGen        uint64
	nfCheck      *nfCheck
	nfVerified   nfVerified
	nfVerifiedAt time.Time
	// nfDrifted is the read-back that found the netfilter program drifted,
	// until the next write repairs it from there (Netfilter.Repair); nil
	// when the program is not known to have drifted or the read failed.
	nfDrifted model.NetfilterSnapshot
}

// New returns an engine reading objects from src for the given node.
func New(cfg Config, src Source, node proxier.Node) (*Engine, error) {
	if cfg.IPVS == nil || cfg.Addresses == nil || cfg.Netfilter == nil || cfg.Conntrack == nil {
		return nil, fmt.Errorf("reconcile engine needs IPVS, Addresses, Netfilter and Conntrack adapters")
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	e := &Engine{cfg: cfg, clock: cfg.Clock, metrics: cfg.Metrics, node: node, src: src,
		desired: proxier.NewAssembler(), applied: model.NewState(), shared: map[model.VSKey]struct{}{}, drains: drains{},
		status: newStatusTable()}
	if e.clock == nil {
		e.clock = clock.RealClock{}
	}
	if e.metrics == nil {
		e.metrics = NopMetrics{}
	}
	return e, nil
}

// SetNode changes the node (labels, addresses); the next Full must rebuild
// everything. New pod CIDRs may change the netfilter intent's local
// sources (proxier.LocalSources).
func (e *Engine) SetNode(n proxier.Node) {
	if !slices.Equal(e.node.PodCIDRs, n.PodCIDRs) {
		e.nfStale = true
	}
	e.node = n
}

// SetSource changes where objects are read from (before the first sync).
func (e *Engine) SetSource(src Source) { e.src = src }

// HealthChecks returns the services' health-check node ports and local
// ready endpoint counts, and whether they changed since the last call (only
// then is the map filled, so the caller resyncs its health servers cheaply).
func (e *Engine) HealthChecks() (map[types.NamespacedName]HealthCheck, bool) {
	if e.healthSent && e.healthGen == e.desired.HealthGen() {
		return nil, false
	}
	e.healthSent, e.healthGen = true, e.desired.HealthGen()
	return e.desired.HealthChecks(), true
}

// Stats returns the number of virtual and real servers believed programmed
// and of draining real servers, at no cost that grows with them.
func (e *Engine) Stats() (virtualServers, realServers, draining int) {
	return len(e.applied.Services), e.appliedReals, e.drains.count()
}

// setApplied records s as what the kernel holds for virtual server k (nil:
// nothing), as read or written, keeping appliedReals; k is no longer
// assumed (adopt.go).
func (e *Engine) setApplied(k model.VSKey, s *model.Service) {
	delete(e.shared, k)
	delete(e.assumed, k)
	if old := e.applied.Services[k]; old != nil {
		e.appliedReals -= len(old.Reals)
	}
	if s == nil {
		delete(e.applied.Services, k)
		return
	}
	e.appliedReals += len(s.Reals)
	e.applied.Services[k] = s
}

// NoLocalEndpoints returns, per IP family (index 0 IPv4, 1 IPv6), how many
// services have an internal and an external node-local traffic policy
// without an endpoint on this node while the cluster has some
// (proxier.NoLocal).
func (e *Engine) NoLocalEndpoints() (internal, external [2]int) { return e.desired.NoLocalEndpoints() }

// Result reports what one sync did.
type Result struct {
	// Writes counts the kernel writes attempted.
	Writes int
	// Failures counts the writes (and reads) that failed: transient ones
	// are retried with backoff, refused objects fail until they change.
	Failures int
	// ObjectErrors are the objects that failed in this sync: the kernel
	// refused them, they belong to another program, or their retries ran
	// out. Each is reported once, when it fails.
	ObjectErrors []ObjectError
	// RetryAfter is when failed work is due again (0: nothing to retry).
	RetryAfter time.Duration
	// Problems are defects found in the services rebuilt by this sync.
	Problems []proxier.Problem
	// Rebuilt are the services rebuilt by this sync, deleted ones
	// included: Problems holds every problem they have now, so a service
	// listed here without problems has none (any reported before are gone).
	Rebuilt []types.NamespacedName
	// Full is set when the sync read and reconciled everything at once.
	Full bool
}

// ObjectError is one kernel object that failed, with the service that wants
// it (zero when none does, e.g. an address of several services or a
// deletion).
type ObjectError struct {
	Object  Object
	Service types.NamespacedName
	Reason  string
	Err     error
}

// Healthy reports whether the proxy keeps syncing, as kube-proxy means it:
// the kernel can be read and the netfilter program is in place. Objects
// that wait for a retry or failed do not make the proxy unhealthy: one bad
// object is that object's problem, never the node's.
func (e *Engine) Healthy() bool { return e.status.other[ObjKernelRead] == nil && e.nfApplied }

// FailedObjects returns how many kernel objects are failed, by reason (the
// object errors metric).
func (e *Engine) FailedObjects() map[string]int { return maps.Clone(e.status.failed) }

// Statuses returns how many objects have a status (pending or failed):
// zero once the kernel equals the desired state.
func (e *Engine) Statuses() int { return e.status.len() }

// Draining returns how many real servers are draining.
func (e *Engine) Draining() int { return e.drains.count() }

// rebuild recomputes one service's fragment from the source.
func (e *Engine) rebuild(name types.NamespacedName) proxier.Change {
	b := e.build(name)
	return e.desired.Set(name, b.frag, b.problems)
}

// rebuilt fills the result's rebuilt services, with every problem they
// have now: those rebuilt and those whose conflicts the rebuild changed.
func (e *Engine) rebuilt(res *Result, names []types.NamespacedName) {
	slices.SortFunc(names, func(a, b types.NamespacedName) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	res.Rebuilt = slices.Compact(names)
	for _, n := range res.Rebuilt {
		res.Problems = append(res.Problems, e.desired.Problems(n)...)
	}
}

// netfilterStale reports whether the netfilter intent may differ from the
// one last computed.
func (e *Engine) netfilterStale() bool { return e.nfStale || e.nfIntent != e.desired.NetfilterGen() }

// netfilterIntent computes the netfilter intent.
func (e *Engine) netfilterIntent() model.Netfilter {
	e.nfStale, e.nfIntent = false, e.desired.NetfilterGen()
	return e.desired.Netfilter(&e.cfg.Build, &e.node, e.isForeign)
}

// netfilterNext computes the netfilter intent from the applied one and the
// groups the assembler changed since (changed), at the cost of those
// groups plus one copy of the applied intent's lists, where
// netfilterIntent sorts every entry: at 100,000 services that was most of
// a service change's sync. While the applied intent is not known to be in
// the kernel, or something the assembler does not track changed (a
// virtual server became foreign or ours: nfStale; the settings), it is
// netfilterIntent, with changed nil.
func (e *Engine) netfilterNext() (nf model.Netfilter, changed *model.NetfilterGroups) {
	if !e.nfApplied || e.nfStale {
		return e.netfilterIntent(), nil
	}
	e.nfIntent = e.desired.NetfilterGen()
	g := e.desired.NetfilterChanges()
	part := e.desired.NetfilterOf(&g, &e.cfg.Build, &e.node, e.isForeign)
	was := e.applied.Netfilter.Groups(&g)
	if !was.SameSettings(&part) {
		return e.netfilterIntent(), nil
	}
	if was.Equal(&part) {
		return e.applied.Netfilter, &model.NetfilterGroups{}
	}
	return e.applied.Netfilter.ReplaceGroups(&g, &part), &g
}

// Sync applies the changes of the named services incrementally: only their
// virtual servers are rebuilt, diffed and written, plus whatever failed
// before and is due for a retry. Its cost does not grow with the number of
// unchanged services. The first call must be Full.
func (e *Engine) Sync(ctx context.Context, changed []types.NamespacedName) Result {
	if !e.started {
		return e.Full(ctx, nil, true)
	}
	var failedRead Result
	if s := e.status.other[ObjKernelRead]; s != nil && !e.clock.Now().Before(s.RetryAt) {
		// A failed kernel read is retried by reading again: a Full (the
		// repair cycle it interrupted, if any, is superseded). If the read
		// fails again, the due retries and changes still go through.
		if res := e.Full(ctx, changed, false); e.status.other[ObjKernelRead] == nil {
			return res
		} else {
			failedRead = res
		}
	}
	res := Result{Failures: failedRead.Failures}
	keys, addrs, _ := e.status.due(e.clock.Now())
	names := slices.Clone(failedRead.Rebuilt)
	for _, name := range changed {
		ch := e.rebuild(name)
		keys, addrs, names = append(keys, ch.Keys...), append(addrs, ch.Addrs...), append(names, ch.Services...)
	}
	e.rebuilt(&res, names)
	var ops []model.Op
	var gone []goneReal
	for _, k := range uniqueKeys(keys) {
		want, have := e.desired.VirtualServer(k), e.applied.Services[k]
		gone = appendGone(gone, k, e.decideRemovals(k, want, have, false))
		ops = e.planKey(ops, k, want, have, false)
	}
	ops = e.addressOps(ops, addrs, false)
	e.execute(ctx, ops, gone, &res)
	return res
}

// planKey appends the operations that bring virtual server k from have to
// want (with its draining real servers), less those of failed objects
// (see statusTable.settle). repairing retries objects whose transient
// retries ran out.
func (e *Engine) planKey(ops []model.Op, k model.VSKey, want, have *model.Service, repairing bool) []model.Op {
	start := len(ops)
	ops = proxier.DiffService(ops, effective(want, e.drains[k]), have)
	return append(ops[:start], e.status.settle(k, ops[start:], repairing)...)
}

// HealthCheck is the health-check node port of an externalTrafficPolicy
// Local service and its number of ready endpoints on this node.
type HealthCheck = proxier.HealthCheck
