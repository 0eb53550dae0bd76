package ipvs

import (
	"net/netip"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// makeVS builds a round-robin TCP virtual server on addr:port, changed by
// the mutators.
func makeVS(addr string, port uint16, mutators ...func(*model.VirtualServer)) model.VirtualServer {
	vs := model.VirtualServer{
		VSKey:     model.VSKey{Addr: netip.MustParseAddr(addr), Port: port, Proto: model.TCP},
		Scheduler: "rr",
	}
	for _, m := range mutators {
		m(&vs)
	}
	return vs
}

func withProto(p model.Protocol) func(*model.VirtualServer) {
	return func(vs *model.VirtualServer) { vs.Proto = p }
}

func withSched(s string, flags model.SchedFlags) func(*model.VirtualServer) {
	return func(vs *model.VirtualServer) { vs.Scheduler, vs.Flags = s, vs.Flags|flags }
}

func withPersistence(timeout uint32) func(*model.VirtualServer) {
	return func(vs *model.VirtualServer) { vs.Flags |= model.FlagPersistent; vs.Timeout = timeout }
}

// makeRS builds a real server of weight 1.
func makeRS(addr string, port uint16, weight ...int32) model.RealServer {
	rs := model.RealServer{RSKey: model.RSKey{Addr: netip.MustParseAddr(addr), Port: port}, Weight: 1}
	if len(weight) > 0 {
		rs.Weight = weight[0]
	}
	return rs
}

// makeService builds a service from a virtual server and its reals.
func makeService(vs model.VirtualServer, reals ...model.RealServer) *model.Service {
	s := &model.Service{VirtualServer: vs, Reals: reals}
	s.SortReals()
	return s
}

// cmpAddrs lets go-cmp compare values holding netip.Addr.
var cmpAddrs = cmpopts.EquateComparable(netip.Addr{})

// opsForTest is a small valid plan: a virtual server and one real server.
func opsForTest() []model.Op {
	vs := makeVS("198.18.0.10", 80)
	return []model.Op{
		{Kind: model.OpAddVirtualServer, VS: vs},
		{Kind: model.OpAddRealServer, VS: vs, RS: makeRS("198.18.1.1", 8080)},
	}
}
