package ipvs

import (
	"slices"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// dumpServices dumps the virtual servers on the raw socket, leaving out
// firewall-mark services. The caller holds k.mu and has opened the socket.
func (k *Kernel) dumpServices() ([]model.VirtualServer, error) {
	var out []model.VirtualServer
	err := k.sock.dump(ipvsCmdGetService, nil, func(p []byte) error {
		vs, fwmark, err := parseService(p)
		if err == nil && fwmark == 0 {
			out = append(out, vs)
		}
		return err
	})
	return out, err
}

// dumpDests dumps the real servers of one virtual server, with their
// counters, on the raw socket. The caller holds k.mu and has opened the
// socket. The real servers are the caller's; the counters are valid until
// the next dump.
func (k *Kernel) dumpDests(vs model.VSKey) ([]model.RealServer, []model.RealServerStats, error) {
	reals, stats := k.reals[:0], k.stats[:0]
	err := k.sock.dump(ipvsCmdGetDest, serviceAttrs(model.VirtualServer{VSKey: vs}, false), func(p []byte) error {
		rs, st, err := parseDest(p, afOf(vs.Addr))
		if err == nil {
			reals, stats = append(reals, rs), append(stats, st)
		}
		return err
	})
	k.reals, k.stats = reals, stats
	return slices.Clone(reals), stats, err
}
