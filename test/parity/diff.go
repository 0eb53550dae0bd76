package parity

import (
	"fmt"
	"net/netip"
	"slices"
)

// Object is what a difference is about.
type Object string

// The objects compared.
const (
	ObjVirtualServer Object = "virtual server"
	ObjRealServer    Object = "real server"
	ObjAddress       Object = "address"
)

// Side says which daemon has the object; Both means both have it and Field
// differs.
type Side string

// The sides.
const (
	OnlyKubeProxy Side = "only kube-proxy"
	OnlyIPVSProxy Side = "only ipvs-proxy"
	Both          Side = "both"
)

// Difference is one thing the two daemons left differently.
type Difference struct {
	Object Object
	Side   Side
	// Field names the setting that differs when Side is Both: scheduler,
	// flags, timeout, netmask (virtual server), weight, forward,
	// thresholds (real server).
	Field string
	// VS is the virtual server concerned (also for a real server).
	VS VSKey
	RS RSKey
	// Addr is the address on kube-ipvs0 (Object ObjAddress).
	Addr netip.Prefix
	// The objects as each daemon has them; nil on the side without it.
	KubeProxyVS, IPVSProxyVS *VirtualServer
	KubeProxyRS, IPVSProxyRS *RealServer
}

func (d Difference) String() string {
	switch d.Object {
	case ObjAddress:
		return fmt.Sprintf("address %s on %s: %s", d.Addr, DummyInterface, d.Side)
	case ObjVirtualServer:
		if d.Side == Both {
			return fmt.Sprintf("virtual server %s: %s: kube-proxy %q, ipvs-proxy %q", d.VS, d.Field, d.KubeProxyVS.Attrs(), d.IPVSProxyVS.Attrs())
		}
		v := d.KubeProxyVS
		if v == nil {
			v = d.IPVSProxyVS
		}
		return fmt.Sprintf("virtual server %s (%s, %d real servers): %s", d.VS, v.Attrs(), len(v.Reals), d.Side)
	}
	if d.Side == Both {
		return fmt.Sprintf("real server %s of %s: %s: kube-proxy %q, ipvs-proxy %q", d.RS, d.VS, d.Field, d.KubeProxyRS, d.IPVSProxyRS)
	}
	r := d.KubeProxyRS
	if r == nil {
		r = d.IPVSProxyRS
	}
	return fmt.Sprintf("real server %s of %s (weight %d): %s", d.RS, d.VS, r.Weight, d.Side)
}

// Compare returns every difference between kube-proxy's snapshot and
// ipvs-proxy's, in a stable order: virtual servers (and their real servers)
// by key, then addresses. Both snapshots must be Canonical.
func Compare(kp, ip *Snapshot) []Difference {
	var out []Difference
	for _, k := range unionKeys(kp, ip) {
		a, b := kp.Find(k), ip.Find(k)
		switch {
		case b == nil:
			out = append(out, Difference{Object: ObjVirtualServer, Side: OnlyKubeProxy, VS: k, KubeProxyVS: a})
		case a == nil:
			out = append(out, Difference{Object: ObjVirtualServer, Side: OnlyIPVSProxy, VS: k, IPVSProxyVS: b})
		default:
			out = append(out, compareVS(a, b)...)
		}
	}
	for _, a := range kp.Addresses {
		if !slices.Contains(ip.Addresses, a) {
			out = append(out, Difference{Object: ObjAddress, Side: OnlyKubeProxy, Addr: a})
		}
	}
	for _, a := range ip.Addresses {
		if !slices.Contains(kp.Addresses, a) {
			out = append(out, Difference{Object: ObjAddress, Side: OnlyIPVSProxy, Addr: a})
		}
	}
	return out
}

// unionKeys returns the keys of both snapshots' virtual servers, sorted.
func unionKeys(a, b *Snapshot) []VSKey {
	var keys []VSKey
	for _, s := range []*Snapshot{a, b} {
		for _, v := range s.VirtualServers {
			keys = append(keys, v.VSKey)
		}
	}
	slices.SortFunc(keys, VSKey.compare)
	return slices.Compact(keys)
}

// compareVS compares one virtual server both daemons have.
func compareVS(a, b *VirtualServer) []Difference {
	var out []Difference
	field := func(name string, differs bool) {
		if differs {
			out = append(out, Difference{Object: ObjVirtualServer, Side: Both, Field: name, VS: a.VSKey, KubeProxyVS: a, IPVSProxyVS: b})
		}
	}
	field("scheduler", a.Scheduler != b.Scheduler)
	field("flags", a.Flags != b.Flags)
	field("timeout", a.Timeout != b.Timeout)
	field("netmask", a.Netmask != b.Netmask)
	for _, k := range unionReals(a, b) {
		ra, rb := findReal(a, k), findReal(b, k)
		d := Difference{Object: ObjRealServer, VS: a.VSKey, RS: k, KubeProxyVS: a, IPVSProxyVS: b, KubeProxyRS: ra, IPVSProxyRS: rb}
		switch {
		case rb == nil:
			d.Side = OnlyKubeProxy
			out = append(out, d)
		case ra == nil:
			d.Side = OnlyIPVSProxy
			out = append(out, d)
		default:
			d.Side = Both
			for _, f := range []struct {
				name    string
				differs bool
			}{{"weight", ra.Weight != rb.Weight}, {"forward", ra.Forward != rb.Forward}, {"thresholds", ra.Upper != rb.Upper || ra.Lower != rb.Lower}} {
				if f.differs {
					d.Field = f.name
					out = append(out, d)
				}
			}
		}
	}
	return out
}

func unionReals(a, b *VirtualServer) []RSKey {
	var keys []RSKey
	for _, v := range []*VirtualServer{a, b} {
		for _, r := range v.Reals {
			keys = append(keys, r.RSKey)
		}
	}
	slices.SortFunc(keys, func(x, y RSKey) int {
		if c := x.Addr.Compare(y.Addr); c != 0 {
			return c
		}
		return int(x.Port) - int(y.Port)
	})
	return slices.Compact(keys)
}

func findReal(v *VirtualServer, k RSKey) *RealServer {
	for i := range v.Reals {
		if v.Reals[i].RSKey == k {
			return &v.Reals[i]
		}
	}
	return nil
}
