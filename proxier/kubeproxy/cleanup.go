package kubeproxy

import (
	"errors"
	"fmt"
	"time"
)

// node is the kernel side of a cleanup: Kernel's netlink and getsockopt
// calls, or Fake's state. cleanup does the rest, so the fake runs the same
// decisions as the kernel.
type node interface {
	// listTables returns the nat and filter tables of both families, of
	// iptables-nft and of iptables-legacy, that exist. On an error it
	// still returns the tables it could list.
	listTables() ([]table, error)
	// apply carries out an iptables-nft table's plan in one nf_tables
	// transaction: it deletes p.rules, flushes p.chains and deletes them.
	apply(t table, p tablePlan) error
	// destroySet destroys an ipset; the error wraps errSetMissing when
	// there is no such set (or no ipset support) and errSetBusy when a
	// rule still uses it.
	destroySet(name string) error
}

var (
	errSetMissing = errors.New("no such ipset")
	errSetBusy    = errors.New("ipset in use")
)

// settleDelays are the waits before destroying busy sets again, after an
// nf_tables change: the kernel frees deleted rules, which drops their
// references to ipsets, from a work queue after the transaction commits
// (about 1.5 s in all).
var settleDelays = []time.Duration{
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
}

// setBusyReason says why a set is left.
const setBusyReason = "in use by a rule (a legacy iptables rule, or another component's)"

// cleanup removes kube-proxy's leftovers from n: iptables-nft tables
// first, then the sets their rules used. sleep waits between set retries.
func cleanup(n node, sleep func(time.Duration)) (Report, error) {
	var r Report
	tabs, err := n.listTables()
	errs := []error{err}
	changed := false
	for _, t := range tabs {
		p := planTable(t)
		switch {
		case t.backend == Legacy:
			r.merge(t.legacy(p))
		case len(p.rules)+len(p.chains) == 0:
			r.Left = append(r.Left, p.kept...)
		default:
			if err := n.apply(t, p); err != nil {
				errs = append(errs, fmt.Errorf("removing kube-proxy's chains from %s %s: %w", t.family, t.name, err))
				continue
			}
			changed = true
			r.merge(t.removed(p))
		}
	}
	busy, err := destroySets(n, &r, SetNames())
	errs = append(errs, err)
	for _, d := range settleDelays {
		if !changed || len(busy) == 0 {
			break
		}
		sleep(d)
		busy, err = destroySets(n, &r, busy)
		errs = append(errs, err)
	}
	for _, s := range busy {
		r.Left = append(r.Left, Leftover{Object: Object{Kind: KindSet, Name: s}, Reason: setBusyReason})
		if len(r.Commands) > 0 {
			r.Commands = append(r.Commands, "ipset destroy "+s)
		}
	}
	return r, errors.Join(errs...)
}

// destroySets destroys the named sets, records the destroyed ones in r and
// returns the busy ones.
func destroySets(n node, r *Report, names []string) ([]string, error) {
	var busy []string
	var errs []error
	for _, s := range names {
		switch err := n.destroySet(s); {
		case err == nil:
			r.Removed = append(r.Removed, Object{Kind: KindSet, Name: s})
		case errors.Is(err, errSetMissing):
		case errors.Is(err, errSetBusy):
			busy = append(busy, s)
		default:
			errs = append(errs, fmt.Errorf("destroying ipset %s: %w", s, err))
		}
	}
	return busy, errors.Join(errs...)
}
