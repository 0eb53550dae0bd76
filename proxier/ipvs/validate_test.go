package ipvs

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func TestValidate(t *testing.T) {
	v4 := makeVS("198.18.0.10", 80)
	tests := []struct {
		name  string
		check func() error
		ok    bool
	}{
		{name: "plain", check: func() error { return validateVirtualServer(v4) }, ok: true},
		{name: "mh with flags", check: func() error {
			return validateVirtualServer(makeVS("fd00::1", 80, withSched("mh", model.FlagSched1|model.FlagSched2)))
		}, ok: true},
		{name: "invalid address", check: func() error { return validateKey(model.VSKey{Port: 80, Proto: model.TCP}) }},
		{name: "4in6 address", check: func() error {
			return validateKey(model.VSKey{Addr: netip.MustParseAddr("::ffff:198.18.0.1"), Port: 80, Proto: model.TCP})
		}},
		{name: "zoned address", check: func() error {
			return validateKey(model.VSKey{Addr: netip.MustParseAddr("fe80::1%eth0"), Port: 80, Proto: model.TCP})
		}},
		{name: "ICMP", check: func() error { return validateVirtualServer(makeVS("198.18.0.10", 0, withProto(1))) }},
		{name: "empty scheduler", check: func() error { return validateVirtualServer(makeVS("198.18.0.10", 80, withSched("", 0))) }},
		{name: "timeout without persistence", check: func() error {
			vs := v4
			vs.Timeout = 10
			return validateVirtualServer(vs)
		}},
		{name: "same family", check: func() error { return validateWeight(v4.VSKey, makeRS("198.18.1.1", 1, 0)) }, ok: true},
		{name: "IPv6 real of IPv4 VS", check: func() error { return validateRealServer(v4.VSKey, makeRS("fd00::1", 1).RSKey) }},
		{name: "invalid real address", check: func() error { return validateRealServer(v4.VSKey, model.RSKey{Port: 1}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestUnavailableNamesModules(t *testing.T) {
	err := unavailable(errors.New("no /proc/net/ip_vs"))
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("%v does not wrap ErrUnavailable", err)
	}
	for _, m := range []string{"ip_vs,", "ip_vs_rr", "ip_vs_sh", "ip_vs_mh", "no /proc/net/ip_vs"} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%q does not mention %q", err, m)
		}
	}
}
