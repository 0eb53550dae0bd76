package reconcile

import (
	"net/netip"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Backoff bounds for retrying failed kernel work.
const (
	retryInitial = 500 * time.Millisecond
	retryMax     = 30 * time.Second
)

// retryState is one failed item: how often it failed and when it is due.
type retryState struct {
	attempts int
	due      time.Time
}

func (r *retryState) fail(now time.Time) {
	d := retryInitial << min(r.attempts, 10)
	r.attempts++
	r.due = now.Add(min(d, retryMax))
}

// retries remembers failed virtual servers, addresses, the netfilter
// program and kernel reads, each with exponential backoff.
type retries struct {
	keys   map[model.VSKey]*retryState
	addrs  map[netip.Addr]*retryState
	nf     *retryState
	global *retryState
}

func newRetries() *retries {
	return &retries{keys: map[model.VSKey]*retryState{}, addrs: map[netip.Addr]*retryState{}}
}

func (r *retries) empty() bool {
	return len(r.keys) == 0 && len(r.addrs) == 0 && r.nf == nil && r.global == nil
}

func (r *retries) failKey(k model.VSKey, now time.Time) {
	s := r.keys[k]
	if s == nil {
		s = &retryState{}
		r.keys[k] = s
	}
	s.fail(now)
}

func (r *retries) failAddr(a netip.Addr, now time.Time) {
	s := r.addrs[a]
	if s == nil {
		s = &retryState{}
		r.addrs[a] = s
	}
	s.fail(now)
}

func (r *retries) failNetfilter(now time.Time) {
	if r.nf == nil {
		r.nf = &retryState{}
	}
	r.nf.fail(now)
}

// failGlobal records a failed kernel read and returns the delay before the
// next attempt.
func (r *retries) failGlobal(now time.Time) time.Duration {
	if r.global == nil {
		r.global = &retryState{}
	}
	r.global.fail(now)
	return r.global.due.Sub(now)
}

func (r *retries) succeedKey(k model.VSKey) { delete(r.keys, k) }
func (r *retries) succeedAddr(a netip.Addr) { delete(r.addrs, a) }
func (r *retries) succeedNetfilter()        { r.nf = nil }
func (r *retries) succeedGlobal()           { r.global = nil }

// due returns the failed virtual servers and addresses whose backoff has
// passed; they stay recorded until they succeed.
func (r *retries) due(now time.Time) ([]model.VSKey, []netip.Addr) {
	var keys []model.VSKey
	var addrs []netip.Addr
	for k, s := range r.keys {
		if !now.Before(s.due) {
			keys = append(keys, k)
		}
	}
	for a, s := range r.addrs {
		if !now.Before(s.due) {
			addrs = append(addrs, a)
		}
	}
	return keys, addrs
}

// next returns how long until the earliest retry is due (0 when nothing
// waits; at least a millisecond otherwise).
func (r *retries) next(now time.Time) time.Duration {
	var earliest time.Time
	consider := func(s *retryState) {
		if s != nil && (earliest.IsZero() || s.due.Before(earliest)) {
			earliest = s.due
		}
	}
	for _, s := range r.keys {
		consider(s)
	}
	for _, s := range r.addrs {
		consider(s)
	}
	consider(r.nf)
	consider(r.global)
	if earliest.IsZero() {
		return 0
	}
	return max(earliest.Sub(now), time.Millisecond)
}
