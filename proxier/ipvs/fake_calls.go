package ipvs

import (
	"fmt"
	"slices"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Probe implements Interface: the Fake always has IPVS unless an error is
// injected.
func (f *Fake) Probe() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.begin(CallProbe, model.VSKey{}, model.RSKey{})
}

// ListServices implements Interface.
func (f *Fake) ListServices() ([]*model.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallListServices, model.VSKey{}, model.RSKey{}); err != nil {
		return nil, err
	}
	return f.sorted(), nil
}

// ListVirtualServers implements Interface.
func (f *Fake) ListVirtualServers() ([]model.VirtualServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallListVirtualServers, model.VSKey{}, model.RSKey{}); err != nil {
		return nil, err
	}
	out := make([]model.VirtualServer, 0, len(f.services))
	for _, s := range f.services {
		out = append(out, s.vs)
	}
	slices.SortFunc(out, func(a, b model.VirtualServer) int { return compareKeys(a.VSKey, b.VSKey) })
	return out, nil
}

// ListRealServers implements Interface; a missing virtual server has no
// real servers, as in the kernel.
func (f *Fake) ListRealServers(vs model.VSKey) ([]model.RealServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallListRealServers, vs, model.RSKey{}); err != nil {
		return nil, err
	}
	if err := validateKey(vs); err != nil {
		return nil, err
	}
	if s, ok := f.services[vs]; ok {
		return s.service().Reals, nil
	}
	return nil, nil
}

// GetService implements Interface.
func (f *Fake) GetService(vs model.VSKey) (*model.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallGetService, vs, model.RSKey{}); err != nil {
		return nil, err
	}
	if err := validateKey(vs); err != nil {
		return nil, err
	}
	if s, ok := f.services[vs]; ok {
		return s.service(), nil
	}
	return nil, nil
}

// AddVirtualServer implements Interface.
func (f *Fake) AddVirtualServer(vs model.VirtualServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallAddVirtualServer, vs.VSKey, model.RSKey{}); err != nil {
		return err
	}
	if err := f.checkVirtualServer(CallAddVirtualServer, vs); err != nil {
		return err
	}
	if _, ok := f.services[vs.VSKey]; ok {
		return callError(CallAddVirtualServer, vs.VSKey.String(), ErrExists, nil)
	}
	f.services[vs.VSKey] = &fakeService{vs: vs, reals: map[model.RSKey]*fakeReal{}}
	return nil
}

// UpdateVirtualServer implements Interface.
func (f *Fake) UpdateVirtualServer(vs model.VirtualServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallUpdateVirtualServer, vs.VSKey, model.RSKey{}); err != nil {
		return err
	}
	if err := f.checkVirtualServer(CallUpdateVirtualServer, vs); err != nil {
		return err
	}
	s, ok := f.services[vs.VSKey]
	if !ok {
		return callError(CallUpdateVirtualServer, vs.VSKey.String(), ErrNotFound, nil)
	}
	s.vs = vs
	return nil
}

// DeleteVirtualServer implements Interface.
func (f *Fake) DeleteVirtualServer(key model.VSKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallDeleteVirtualServer, key, model.RSKey{}); err != nil {
		return err
	}
	if err := validateKey(key); err != nil {
		return err
	}
	delete(f.services, key)
	return nil
}

// AddRealServer implements Interface.
func (f *Fake) AddRealServer(vs model.VSKey, rs model.RealServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallAddRealServer, vs, rs.RSKey); err != nil {
		return err
	}
	if err := validateWeight(vs, rs); err != nil {
		return err
	}
	s, ok := f.services[vs]
	if !ok {
		return callError(CallAddRealServer, rsSubject(vs, rs.RSKey), fmt.Errorf("virtual server %w", ErrNotFound), nil)
	}
	if _, ok := s.reals[rs.RSKey]; ok {
		return callError(CallAddRealServer, rsSubject(vs, rs.RSKey), ErrExists, nil)
	}
	s.reals[rs.RSKey] = &fakeReal{rs: rs}
	return nil
}

// UpdateRealServer implements Interface. Connection counters are kept.
func (f *Fake) UpdateRealServer(vs model.VSKey, rs model.RealServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallUpdateRealServer, vs, rs.RSKey); err != nil {
		return err
	}
	if err := validateWeight(vs, rs); err != nil {
		return err
	}
	r, err := f.real(CallUpdateRealServer, vs, rs.RSKey)
	if err != nil {
		return err
	}
	r.rs = rs
	return nil
}

// DeleteRealServer implements Interface. Its connection counters go with it.
func (f *Fake) DeleteRealServer(vs model.VSKey, rs model.RSKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallDeleteRealServer, vs, rs); err != nil {
		return err
	}
	if err := validateRealServer(vs, rs); err != nil {
		return err
	}
	if s, ok := f.services[vs]; ok {
		delete(s.reals, rs)
	}
	return nil
}

// RealServerStats implements Interface with the counters set by SetStats
// (zero otherwise).
func (f *Fake) RealServerStats(vs model.VSKey) (map[model.RSKey]model.RealServerStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallRealServerStats, vs, model.RSKey{}); err != nil {
		return nil, err
	}
	if err := validateKey(vs); err != nil {
		return nil, err
	}
	out := map[model.RSKey]model.RealServerStats{}
	if s, ok := f.services[vs]; ok {
		for k, r := range s.reals {
			out[k] = r.stats
		}
	}
	return out, nil
}

// Timeouts implements Interface.
func (f *Fake) Timeouts() (Timeouts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallTimeouts, model.VSKey{}, model.RSKey{}); err != nil {
		return Timeouts{}, err
	}
	return f.timeouts, nil
}

// SetTimeouts implements Interface. Like the kernel, it keeps whole seconds.
func (f *Fake) SetTimeouts(t Timeouts) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(CallSetTimeouts, model.VSKey{}, model.RSKey{}); err != nil {
		return err
	}
	if err := validateTimeouts(t); err != nil {
		return err
	}
	set := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v.Truncate(time.Second)
		}
	}
	set(&f.timeouts.TCP, t.TCP)
	set(&f.timeouts.TCPFin, t.TCPFin)
	set(&f.timeouts.UDP, t.UDP)
	return nil
}

// ApplyBatch implements Interface by making the single call of each
// operation, so the counters show one call per operation (plus one
// ApplyBatch call). An error injected for CallApplyBatch fails every
// operation without applying any.
func (f *Fake) ApplyBatch(ops []model.Op) []error {
	err := f.begin(CallApplyBatch, model.VSKey{}, model.RSKey{})
	errs := make([]error, len(ops))
	for i, op := range ops {
		if err != nil {
			errs[i] = err
			continue
		}
		switch op.Kind {
		case model.OpAddVirtualServer:
			errs[i] = f.AddVirtualServer(op.VS)
		case model.OpUpdateVirtualServer:
			errs[i] = f.UpdateVirtualServer(op.VS)
		case model.OpDeleteVirtualServer:
			errs[i] = f.DeleteVirtualServer(op.VS.VSKey)
		case model.OpAddRealServer:
			errs[i] = f.AddRealServer(op.VS.VSKey, op.RS)
		case model.OpUpdateRealServer:
			errs[i] = f.UpdateRealServer(op.VS.VSKey, op.RS)
		case model.OpDeleteRealServer:
			errs[i] = f.DeleteRealServer(op.VS.VSKey, op.RS.RSKey)
		default:
			errs[i] = validateOp(op)
		}
	}
	return errs
}
