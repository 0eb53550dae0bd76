package bench

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// The daemons compared.
const (
	Ours     = "ipvs-proxy"
	KPIPVS   = "kube-proxy-ipvs"
	KPNFT    = "kube-proxy-nftables"
	NotTimed = -1
)

// Result is one daemon's run on one fresh VM boot: what the guest measured,
// every time on the guest's clock, in seconds from the daemon's start.
type Result struct {
	Daemon   string
	Services int
	// Endpoints is the endpoints per service.
	Endpoints int
	// Flags are the daemon's command-line flags.
	Flags []string
	Guest Guest
	Cold  Cold
	// Idle is the daemon's CPU while nothing changes, after the cold sync
	// (periodic full syncs included).
	Idle Idle
	// Changes are the one-change latencies, in the order written.
	Changes []Change
	// BeforeChanges is the daemon's CPU and memory just before the first
	// change.
	BeforeChanges Usage
	// ChangeUsage is the daemon's CPU and memory when the last change was
	// seen; CPU minus BeforeChanges' is what the change phase cost.
	ChangeUsage Usage
	// Restart is set for ipvs-proxy: killed and started again over the
	// programmed kernel.
	Restart *Restart `json:",omitempty"`
	// Drift is set for ipvs-proxy: objects deleted by hand while idle and
	// the time until the kernel showed them repaired.
	Drift *Drift `json:",omitempty"`
	// Burst is the changes timed while the daemon programs many new
	// services at once.
	Burst *Burst   `json:",omitempty"`
	Notes []string `json:",omitempty"`
}

// Burst is Services new services created at once, after the change phase,
// and endpoint changes to existing services written meanwhile.
type Burst struct {
	Services int
	// Start is when the first create was sent, in seconds from the daemon's
	// start; Created and Kernel are from Start until the last create
	// returned and until the kernel held every new service (NotTimed if it
	// did not within the cold-sync cap).
	Start, Created, Kernel float64
	// Changes are timed as the change phase's are.
	Changes []Change
}

// During returns the latencies of the changes written before the kernel
// held every new service, and how many of those were never seen.
func (b *Burst) During() (lat []float64, missed int) {
	end := math.Inf(1)
	if b.Kernel != NotTimed {
		end = b.Start + b.Kernel
	}
	return latencies(b.Changes, func(c Change) bool { return c.At >= b.Start && c.At < end })
}

// Drift is the drift phase: each kind of object deleted once, by hand,
// while the daemon is synced and idle.
type Drift struct {
	// Cap is how long each repair was waited for, PollInterval how often
	// the kernel was read meanwhile.
	Cap, PollInterval float64
	Repairs           []Repair
}

// Repair is one object deleted by hand and the daemon putting it back.
type Repair struct {
	// Kind is what was deleted: address, nft-element, ipvs-flush,
	// real-server or virtual-server.
	Kind string
	// Object names it (an address, a virtual server, a set element).
	Object string
	// Seconds is from the deletion's return until the kernel showed the
	// object back; NotTimed if it did not within Cap.
	Seconds float64
	// Read is how long the last read of the kernel took: Seconds is late
	// by up to PollInterval plus Read.
	Read float64
}

// Guest describes the VM at the start of the run.
type Guest struct {
	Date    string
	Kernel  string
	CPUs    int
	MemMB   int
	LoadAvg string
}

// Cold is the first sync over objects that all exist before the daemon
// starts. Times are seconds from the process's start; NotTimed (-1) when not
// reached before Cap.
type Cold struct {
	// InformersSynced is when the daemon logged its last informer's cache
	// synced.
	InformersSynced float64
	// Kernel is when the kernel first held every virtual and real server
	// (IPVS: of every 50th service and the last, read over netlink, then
	// confirmed by a full count) or every service's map element (nftables).
	Kernel float64
	// Synced is when kubeproxy_sync_proxy_rules_last_timestamp_seconds was
	// first set for every IP family: a whole sync completed.
	Synced float64
	// Healthz is when /healthz first answered 200.
	Healthz float64
	// Cap is how long the run waited at most.
	Cap float64
	// PollInterval is how often the kernel was read while waiting, and
	// PollRead how long the last read took: Kernel is late by up to their sum.
	PollInterval, PollRead float64
	// VirtualServers, RealServers or map elements counted once Kernel was
	// seen.
	VirtualServers, RealServers int
	// Usage is the daemon's CPU and memory at Synced (or at Cap).
	Usage Usage
}

// Usage is a process's CPU time (utime+stime) and memory.
type Usage struct {
	CPUSeconds float64
	// PeakRSSKiB is VmHWM.
	PeakRSSKiB int64
	RSSKiB     int64
}

// Idle is a quiet period's length and the daemon's CPU time in it.
type Idle struct {
	Seconds    float64
	CPUSeconds float64
	// PerMinute is the CPU time of each whole minute of the period, in
	// order: periodic work (a forced collection every two minutes, a
	// repair step) shows in the minute it fell in.
	PerMinute []float64 `json:",omitempty"`
	// GCs and AllocMB are the collections the Go runtime ran and the heap
	// it allocated over the period, from the daemon's go_* metrics (both
	// kube-proxy and ipvs-proxy export them); zero when unread.
	GCs     float64
	AllocMB float64
}

// Change is one endpoint added to, or removed from, one EndpointSlice.
type Change struct {
	Service int
	Add     bool
	// At is when the write returned, in seconds from the daemon's start: it
	// places the change among the daemon's logged syncs.
	At float64
	// Write is how long the API write took (the patch's round trip).
	Write float64
	// Latency is from the write returning to the kernel showing the change;
	// NotTimed if it never did within the run's change timeout. A negative
	// value means the kernel changed before the write's response arrived.
	Latency float64
	// Watched is from the write returning to the benchmark's own watch of
	// the slices, beside the daemon in the guest, delivering the patched
	// slice; NotTimed if it did not (results before it have 0). The part
	// of Latency the API server's watch and the VM's network account for.
	Watched float64
}

// Restart is ipvs-proxy killed (SIGKILL) and started again with every
// service programmed; seconds from the new process's start.
type Restart struct {
	InformersSynced float64
	Synced          float64
	Healthz         float64
	// Verified is when the first repair cycle had read back what the first
	// sync assumed (above 500 virtual servers; NotTimed when it did not
	// end within the cold-sync cap, or there was nothing to verify).
	Verified float64 `json:",omitempty"`
	// KernelWrites is ipvs_proxy_kernel_writes_total once synced.
	KernelWrites float64
	// AddressesBefore and AddressesAfter count the addresses bound on the
	// dummy interface, as addresses or local routes, just before the kill
	// and once the new process has synced.
	AddressesBefore, AddressesAfter int
	// Adopted is the daemon's "Adopted the existing kernel state" line.
	Adopted string
	Usage   Usage
}

// Latencies returns the timed changes' latencies (all, adds only or
// removes only) and how many were never seen.
func (r *Result) Latencies(filter func(Change) bool) (lat []float64, missed int) {
	return latencies(r.Changes, filter)
}

func latencies(changes []Change, filter func(Change) bool) (lat []float64, missed int) {
	for _, c := range changes {
		if filter != nil && !filter(c) {
			continue
		}
		if c.Latency == NotTimed {
			missed++
			continue
		}
		lat = append(lat, c.Latency)
	}
	return lat, missed
}

// Watched returns the changes' watch delays (Change.Watched), leaving
// out those not timed and results from before the field.
func Watched(changes []Change) []float64 {
	var out []float64
	for _, c := range changes {
		if c.Watched != NotTimed && c.Watched != 0 {
			out = append(out, c.Watched)
		}
	}
	return out
}

// Percentile returns the p-th percentile (0-100) of values by the
// nearest-rank method, or NaN for none.
func Percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// minutes formats per-minute CPU seconds as "0.12/0.40/…".
func minutes(cpu []float64) string {
	parts := make([]string, len(cpu))
	for i, c := range cpu {
		parts[i] = fmt.Sprintf("%.2f", c)
	}
	return strings.Join(parts, "/")
}

// Seconds turns a duration into the results' unit.
func Seconds(d time.Duration) float64 { return d.Seconds() }

// Summary is a result's one line for the results table.
func (r *Result) Summary() string {
	lat, missed := r.Latencies(nil)
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %6d×%-3d informers %s kernel %s synced %s healthz %s | cpu %.1fs peak %.0f MB",
		r.Daemon, r.Services, r.Endpoints, secs(r.Cold.InformersSynced), secs(r.Cold.Kernel),
		secs(r.Cold.Synced), secs(r.Cold.Healthz), r.Cold.Usage.CPUSeconds, mib(r.Cold.Usage.PeakRSSKiB))
	if r.Idle.Seconds > 0 {
		fmt.Fprintf(&b, " | idle cpu %.2fs/min", r.Idle.CPUSeconds*60/r.Idle.Seconds)
		if len(r.Idle.PerMinute) > 1 {
			fmt.Fprintf(&b, " (per minute %s)", minutes(r.Idle.PerMinute))
		}
		if r.Idle.AllocMB > 0 {
			fmt.Fprintf(&b, " gc %.0f alloc %.1f MB", r.Idle.GCs, r.Idle.AllocMB)
		}
	}
	if len(lat)+missed > 0 {
		fmt.Fprintf(&b, " | change n=%d p50 %s p90 %s p99 %s max %s missed %d cpu/change %.1f ms peak %.0f MB",
			len(lat), ms(Percentile(lat, 50)), ms(Percentile(lat, 90)), ms(Percentile(lat, 99)),
			ms(Percentile(lat, 100)), missed, r.changeCPU()*1000, mib(r.ChangeUsage.PeakRSSKiB))
		if w := Watched(r.Changes); len(w) > 0 {
			fmt.Fprintf(&b, " (own watch of the slices p50 %s p99 %s max %s)", ms(Percentile(w, 50)),
				ms(Percentile(w, 99)), ms(Percentile(w, 100)))
		}
	}
	if rs := r.Restart; rs != nil {
		fmt.Fprintf(&b, " | restart synced %s healthz %s verified %s writes %.0f", secs(rs.Synced), secs(rs.Healthz),
			secs(rs.Verified), rs.KernelWrites)
	}
	if r.Drift != nil {
		b.WriteString(" | drift repaired")
		b.WriteString(r.Drift.summary())
	}
	if r.Burst != nil {
		lat, missed := r.Burst.During()
		fmt.Fprintf(&b, " | burst %d created %s kernel %s, changes during it n=%d p50 %s p99 %s max %s missed %d",
			r.Burst.Services, secs(r.Burst.Created), secs(r.Burst.Kernel), len(lat), ms(Percentile(lat, 50)),
			ms(Percentile(lat, 99)), ms(Percentile(lat, 100)), missed)
	}
	return b.String()
}

// changeCPU is the daemon's CPU seconds per change during the change phase
// (periodic syncs included).
func (r *Result) changeCPU() float64 {
	if len(r.Changes) == 0 {
		return 0
	}
	return (r.ChangeUsage.CPUSeconds - r.BeforeChanges.CPUSeconds) / float64(len(r.Changes))
}

// summary lists each repair's time, "> cap" when it was not seen.
func (d *Drift) summary() string {
	var b strings.Builder
	for _, r := range d.Repairs {
		if r.Seconds == NotTimed {
			fmt.Fprintf(&b, " %s >%.0fs", r.Kind, d.Cap)
			continue
		}
		fmt.Fprintf(&b, " %s %.1fs", r.Kind, r.Seconds)
	}
	return b.String()
}

func secs(v float64) string {
	if v == NotTimed {
		return "-"
	}
	return fmt.Sprintf("%.1fs", v)
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0fms", v*1000)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
