//go:build vmtest

package addr_test

import (
	"strconv"
	"testing"
)

// measureFirst6 is the first measured IPv6 address (fd00::/8).
var measureFirst6 = ip("fd00:198:18::1")

// TestMeasureBindAddrs6 is TestMeasureBindAddrs for IPv6, which stays an
// address on kube-ipvs0 (a /128 without duplicate address detection or
// prefix route, BindAll): N addresses bound a tenth at a time, listed, and
// unbound one request each, every tenth timed. Sizes and budget come from
// IPVS_MEASURE_ADDRS and IPVS_MEASURE_ADDRS_BUDGET, as there.
func TestMeasureBindAddrs6(t *testing.T) {
	for _, size := range measureSizes(t) {
		t.Run(strconv.Itoa(size), func(t *testing.T) { measureBind(t, "IPv6", consecutive(measureFirst6, size)) })
	}
}
