package ipvs

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"

	mobyipvs "github.com/moby/ipvs"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

var _ Interface = (*Kernel)(nil)

// maxDumpAttempts bounds the retries of a dump that changed under us.
const maxDumpAttempts = 5

// Kernel is Interface on the running kernel's IPVS, in the network namespace
// the process was in when New ran. It is safe for concurrent use: calls are
// serialised, because a moby/ipvs handle reads replies on one shared socket.
type Kernel struct {
	mu     sync.Mutex
	handle *mobyipvs.Handle
	// procPath is the file whose presence shows IPVS in this namespace.
	procPath string
	// batch is the socket of ApplyBatch, opened on first use.
	batch *batchWriter
}

// New opens a generic netlink socket for IPVS. It succeeds even when the
// kernel has no IPVS (moby/ipvs does not check): call Probe before use.
func New() (*Kernel, error) {
	h, err := mobyipvs.New("")
	if err != nil {
		return nil, fmt.Errorf("opening IPVS netlink socket: %w", err)
	}
	return &Kernel{handle: h, procPath: "/proc/net/ip_vs"}, nil
}

// Close releases the netlink sockets. The Kernel is unusable afterwards.
func (k *Kernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.handle.Close()
	if k.batch != nil {
		k.batch.close()
		k.batch = nil
	}
	return nil
}

// ListServices implements Interface: one service dump, then one destination
// dump per service. IPVS dumps resume by position between netlink messages
// and never flag an interruption, so a change made by another program during
// a dump can repeat an entry (detected, and the list retried) or skip one
// (undetectable). A skipped entry makes the caller's next write to it fail
// with ErrExists or succeed as a no-op, and the next full list sees it.
func (k *Kernel) ListServices() ([]*model.Service, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var lastErr error
	for range maxDumpAttempts {
		out, err := k.listOnce()
		if err == nil {
			return out, nil
		}
		if !interrupted(err) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("listing IPVS services after %d attempts: %w: %w", maxDumpAttempts, ErrDumpInterrupted, lastErr)
}

// errInconsistent marks a dump that returned one object twice: IPVS dumps
// resume by position between messages and do not set NLM_F_DUMP_INTR, so a
// concurrent insert shows up as a duplicate (and a delete as a skip, which
// nothing can detect).
var errInconsistent = errors.New("dump returned an object twice")

// interrupted reports whether a dump should be retried.
func interrupted(err error) bool {
	return errors.Is(err, errInconsistent) || errors.Is(err, syscall.EINTR) || errors.Is(err, errNLDumpInterrupted)
}

func (k *Kernel) listOnce() ([]*model.Service, error) {
	msvcs, err := k.handle.GetServices()
	if err != nil {
		return nil, fmt.Errorf("dumping IPVS services: %w", err)
	}
	out := make([]*model.Service, 0, len(msvcs))
	seen := make(map[model.VSKey]bool, len(msvcs))
	for _, ms := range msvcs {
		if ms.FWMark != 0 {
			continue
		}
		vs, err := fromService(ms)
		if err != nil {
			return nil, err
		}
		if seen[vs.VSKey] {
			return nil, fmt.Errorf("dumping IPVS services: %s: %w", vs.VSKey, errInconsistent)
		}
		seen[vs.VSKey] = true
		svc := &model.Service{VirtualServer: vs}
		if svc.Reals, _, err = k.dumpReals(vs.VSKey, false); err != nil {
			return nil, err
		}
		out = append(out, svc)
	}
	slices.SortFunc(out, func(a, b *model.Service) int { return compareKeys(a.VSKey, b.VSKey) })
	return out, nil
}

// dumpReals dumps the destinations of one virtual server, sorted, and their
// counters when withStats is set.
func (k *Kernel) dumpReals(vs model.VSKey, withStats bool) ([]model.RealServer, map[model.RSKey]model.RealServerStats, error) {
	dests, err := k.handle.GetDestinations(keyService(vs))
	if err != nil {
		return nil, nil, fmt.Errorf("dumping IPVS real servers of %s: %w", vs, err)
	}
	reals := make([]model.RealServer, 0, len(dests))
	var stats map[model.RSKey]model.RealServerStats
	if withStats {
		stats = make(map[model.RSKey]model.RealServerStats, len(dests))
	}
	for _, d := range dests {
		rs, st, err := fromDestination(d)
		if err != nil {
			return nil, nil, fmt.Errorf("dumping IPVS real servers of %s: %w", vs, err)
		}
		reals = append(reals, rs)
		if withStats {
			stats[rs.RSKey] = st
		}
	}
	svc := model.Service{Reals: reals}
	svc.SortReals()
	for i := 1; i < len(reals); i++ {
		if reals[i].RSKey == reals[i-1].RSKey {
			return nil, nil, fmt.Errorf("dumping IPVS real servers of %s: %s: %w", vs, reals[i].RSKey, errInconsistent)
		}
	}
	return reals, stats, nil
}

// RealServerStats implements Interface with one destination dump.
func (k *Kernel) RealServerStats(vs model.VSKey) (map[model.RSKey]model.RealServerStats, error) {
	if err := validateKey(vs); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var lastErr error
	for range maxDumpAttempts {
		_, stats, err := k.dumpReals(vs, true)
		if err == nil {
			return stats, nil
		}
		if !interrupted(err) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("reading IPVS counters of %s: %w: %w", vs, ErrDumpInterrupted, lastErr)
}

// AddVirtualServer implements Interface.
func (k *Kernel) AddVirtualServer(vs model.VirtualServer) error {
	if err := validateVirtualServer(vs); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return vsError(CallAddVirtualServer, vs, k.handle.NewService(toService(vs)))
}

// UpdateVirtualServer implements Interface.
func (k *Kernel) UpdateVirtualServer(vs model.VirtualServer) error {
	if err := validateVirtualServer(vs); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return vsError(CallUpdateVirtualServer, vs, k.handle.UpdateService(toService(vs)))
}

// DeleteVirtualServer implements Interface.
func (k *Kernel) DeleteVirtualServer(key model.VSKey) error {
	if err := validateKey(key); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return vsError(CallDeleteVirtualServer, model.VirtualServer{VSKey: key}, k.handle.DelService(keyService(key)))
}

// AddRealServer implements Interface.
func (k *Kernel) AddRealServer(vs model.VSKey, rs model.RealServer) error {
	if err := validateWeight(vs, rs); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return rsError(CallAddRealServer, vs, rs.RSKey, k.handle.NewDestination(keyService(vs), toDestination(rs)))
}

// UpdateRealServer implements Interface.
func (k *Kernel) UpdateRealServer(vs model.VSKey, rs model.RealServer) error {
	if err := validateWeight(vs, rs); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return rsError(CallUpdateRealServer, vs, rs.RSKey, k.handle.UpdateDestination(keyService(vs), toDestination(rs)))
}

// DeleteRealServer implements Interface.
func (k *Kernel) DeleteRealServer(vs model.VSKey, rs model.RSKey) error {
	if err := validateRealServer(vs, rs); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return rsError(CallDeleteRealServer, vs, rs, k.handle.DelDestination(keyService(vs), keyDestination(rs)))
}

// Timeouts implements Interface.
func (k *Kernel) Timeouts() (Timeouts, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, err := k.getConfig()
	if err != nil {
		return Timeouts{}, err
	}
	return Timeouts{TCP: c.TimeoutTCP, TCPFin: c.TimeoutTCPFin, UDP: c.TimeoutUDP}, nil
}

// SetTimeouts implements Interface.
func (k *Kernel) SetTimeouts(t Timeouts) error {
	if err := validateTimeouts(t); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.handle.SetConfig(&mobyipvs.Config{TimeoutTCP: t.TCP, TimeoutTCPFin: t.TCPFin, TimeoutUDP: t.UDP})
	if err != nil {
		return fmt.Errorf("setting IPVS timeouts: %w", err)
	}
	return nil
}

// getConfig reads the timeouts. moby/ipvs indexes the first reply without
// checking there is one; when it resolved no IPVS family (IPVS was loaded
// after the process started), the kernel acknowledges the request with no
// reply and moby/ipvs panics. That panic is turned into ErrUnavailable.
func (k *Kernel) getConfig() (c *mobyipvs.Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = unavailable(fmt.Errorf("reading IPVS timeouts: no reply (moby/ipvs resolved no IPVS netlink family at start: %v)", r))
		}
	}()
	c, err = k.handle.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("reading IPVS timeouts: %w", err)
	}
	return c, nil
}
