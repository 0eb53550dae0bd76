//go:build integration

package integration

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func rsKey(s string) model.RSKey {
	a := netip.MustParseAddrPort(s)
	return model.RSKey{Addr: a.Addr(), Port: a.Port()}
}

func statsActive(n uint32) model.RealServerStats { return model.RealServerStats{ActiveConns: n} }
