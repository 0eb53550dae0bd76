package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
	"github.com/ipvs-proxy/ipvs-proxy/test/bench/probe"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

const (
	// driftPoll is how often the kernel is read while a repair is awaited.
	driftPoll = 100 * time.Millisecond
	// driftSettle is the pause after each repair (or restore), so that the
	// next deletion meets a quiet daemon.
	driftSettle = 2 * time.Second
)

// tampering is one deletion done by hand: what it deleted, how to tell it
// is back, and how to put it back if nothing does (nil: cannot).
type tampering struct {
	object   string
	repaired func() (bool, error)
	restore  func() error
	// last, if set, describes what the kernel showed at the last read.
	last func() string
}

// driftStep deletes one kind of object and returns how to watch it.
type driftStep struct {
	kind string
	do   func(op *probe.Operator, svc int) (*tampering, error)
}

// driftSteps are done in this order: those repaired at once or by the cheap
// checks first, then those only the full read-back finds.
var driftSteps = []driftStep{
	{"address", deleteAddress},
	{"nft-element", deleteElement},
	{"ipvs-flush", flushIPVS},
	{"real-server", deleteReal},
	{"virtual-server", deleteVirtual},
}

// driftPhase deletes each kind of ipvs-proxy's objects by hand, one at a
// time while the daemon is synced and idle, and times the kernel's way
// back. A repair not seen within o.driftCap is recorded as NotTimed and,
// where it can be, put back by hand so that the later phases start from
// the same kernel state.
func driftPhase(res *bench.Result, o options) error {
	op, err := probe.NewOperator()
	if err != nil {
		return err
	}
	dr := &bench.Drift{Cap: o.driftCap.Seconds(), PollInterval: driftPoll.Seconds()}
	res.Drift = dr
	rng := rand.New(rand.NewPCG(14, uint64(res.Services)))
	for _, st := range driftSteps {
		t, err := st.do(op, rng.IntN(res.Services))
		if err != nil {
			return fmt.Errorf("drift %s: %w", st.kind, err)
		}
		rep, err := awaitRepair(st.kind, t, o.driftCap)
		dr.Repairs = append(dr.Repairs, rep)
		if err != nil {
			return fmt.Errorf("drift %s: %w", st.kind, err)
		}
		if rep.Seconds == bench.NotTimed {
			note := fmt.Sprintf("drift %s %s: not repaired within %v", st.kind, t.object, o.driftCap)
			if t.last != nil {
				note += " (" + t.last() + ")"
			}
			if t.restore != nil {
				if err := t.restore(); err != nil {
					return fmt.Errorf("%s; putting it back by hand: %w", note, err)
				}
				note += "; put back by hand"
			}
			res.Notes = append(res.Notes, note)
		}
		logf("Drift %s %s: repaired after %s (last read %.0f ms)", st.kind, t.object, repairTime(rep), rep.Read*1000)
		time.Sleep(driftSettle)
	}
	return nil
}

// awaitRepair polls t.repaired every driftPoll until it holds or limit
// passes, timed from now: the deletion has just returned.
func awaitRepair(kind string, t *tampering, limit time.Duration) (bench.Repair, error) {
	start := time.Now()
	rep := bench.Repair{Kind: kind, Object: t.object, Seconds: bench.NotTimed}
	for time.Since(start) < limit {
		read := time.Now()
		ok, err := t.repaired()
		rep.Read = time.Since(read).Seconds()
		if err != nil {
			return rep, err
		}
		if ok {
			rep.Seconds = time.Since(start).Seconds()
			return rep, nil
		}
		time.Sleep(driftPoll - time.Since(read))
	}
	return rep, nil
}

func repairTime(r bench.Repair) string {
	if r.Seconds == bench.NotTimed {
		return "never"
	}
	return fmt.Sprintf("%.2fs", r.Seconds)
}

func vip(svc int) netip.AddrPort { return netip.AddrPortFrom(bench.ClusterIP(svc), bench.ServicePort) }

// deleteAddress unbinds service svc's cluster IP from the dummy interface
// in the form the kernel holds it (ip addr del, or ip route del local for
// ipvs-proxy's IPv4 local route), over netlink.
func deleteAddress(_ *probe.Operator, svc int) (*tampering, error) {
	a := bench.ClusterIP(svc)
	b, ok, err := guest.IsBound(guest.DummyInterface, a)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%v is not bound on %s", a, guest.DummyInterface)
	}
	if err := guest.Unbind(guest.DummyInterface, b, false); err != nil {
		return nil, err
	}
	return &tampering{
		object: fmt.Sprintf("%v (%s)", a, b.Form),
		// One route lookup: listing every binding took 47 s at 100,000
		// services in the VM, which was the resolution of this timing.
		repaired: func() (bool, error) { return guest.IsLocal(a) },
		restore:  func() error { return guest.Rebind(guest.DummyInterface, b) },
	}, nil
}

// deleteElement removes service svc's port from our service-ports set
// (nft delete element): its masquerade and firewall rules stop matching.
func deleteElement(op *probe.Operator, svc int) (*tampering, error) {
	key, err := op.DeleteServicePort(vip(svc))
	if err != nil {
		return nil, err
	}
	return &tampering{
		object:   "service-ports " + vip(svc).String(),
		repaired: func() (bool, error) { return op.ServicePortPresent(key) },
		restore:  func() error { return op.AddServicePort(key) },
	}, nil
}

// flushIPVS deletes the whole IPVS table (ipvsadm -C); it is back when it
// counts as many virtual and real servers as before. The table is dumped
// first, to be put back by hand if the daemon does not.
func flushIPVS(op *probe.Operator, _ int) (*tampering, error) {
	all, err := op.DumpAll()
	if err != nil {
		return nil, err
	}
	vs, rs, err := probe.CountIPVS(probe.IPVSTable)
	if err != nil {
		return nil, err
	}
	if err := op.FlushIPVS(); err != nil {
		return nil, err
	}
	var v, r int
	return &tampering{
		object: fmt.Sprintf("%d virtual and %d real servers", vs, rs),
		repaired: func() (bool, error) {
			v, r, err = probe.CountIPVS(probe.IPVSTable)
			return v >= vs && r >= rs, err
		},
		restore: func() error {
			for _, x := range all {
				if err := op.Restore(x); err != nil {
					return err
				}
			}
			return nil
		},
		last: func() string { return fmt.Sprintf("%d virtual and %d real servers at the last read", v, r) },
	}, nil
}

// deleteReal deletes one real server of service svc (ipvsadm -d).
func deleteReal(op *probe.Operator, svc int) (*tampering, error) {
	vs, err := op.Dump(vip(svc))
	if err != nil {
		return nil, err
	}
	if len(vs.Real) == 0 {
		return nil, fmt.Errorf("virtual server %v has no real server", vip(svc))
	}
	d := vs.Real[svc%len(vs.Real)]
	if err := op.DeleteReal(vs, d); err != nil {
		return nil, err
	}
	return &tampering{
		object:   fmt.Sprintf("%v -> %v", vip(svc), d.Address),
		repaired: func() (bool, error) { return op.Complete(vs) },
		restore:  func() error { return op.Restore(vs) },
	}, nil
}

// deleteVirtual deletes service svc's virtual server with its real servers
// (ipvsadm -D).
func deleteVirtual(op *probe.Operator, svc int) (*tampering, error) {
	vs, err := op.Dump(vip(svc))
	if err != nil {
		return nil, err
	}
	if err := op.DeleteVirtual(vs); err != nil {
		return nil, err
	}
	return &tampering{
		object:   vip(svc).String(),
		repaired: func() (bool, error) { return op.Complete(vs) },
		restore:  func() error { return op.Restore(vs) },
	}, nil
}
