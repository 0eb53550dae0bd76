//go:build vmtest

package smoke

import (
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
)

// svcFlagPersistent is IP_VS_SVC_F_PERSISTENT; the kernel adds other bits
// (hashed) when it reports a service back.
const svcFlagPersistent = 0x1

func newIPVS(t *testing.T) *ipvs.Handle {
	t.Helper()
	h, err := ipvs.New("")
	if err != nil {
		t.Fatalf("Opening IPVS netlink: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Flush(); err != nil {
			t.Errorf("Flushing IPVS: %v", err)
		}
		h.Close()
	})
	return h
}

func TestProcNetIPVS(t *testing.T) {
	for _, p := range []string{"/proc/net/ip_vs", "/proc/net/ip_vs_conn", "/proc/sys/net/ipv4/vs/conntrack",
		"/proc/sys/net/ipv4/vs/expire_nodest_conn", "/proc/sys/net/ipv4/vs/conn_reuse_mode"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestSchedulers creates one virtual server per scheduler kube-proxy accepts:
// each needs its ip_vs_<name> module.
func TestSchedulers(t *testing.T) {
	h := newIPVS(t)
	for i, sched := range []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh"} {
		t.Run(sched, func(t *testing.T) {
			svc := &ipvs.Service{Address: net.ParseIP("198.18.100.2"), Protocol: syscall.IPPROTO_TCP,
				Port: uint16(1000 + i), SchedName: sched, AddressFamily: syscall.AF_INET, Netmask: 0xffffffff}
			if err := h.NewService(svc); err != nil {
				t.Fatalf("Adding %s service: %v", sched, err)
			}
			got, err := h.GetService(svc)
			if err != nil {
				t.Fatal(err)
			}
			if got.SchedName != sched {
				t.Errorf("scheduler = %q, want %q", got.SchedName, sched)
			}
		})
	}
}

// TestVirtualServerRoundTrip adds a virtual server and a real server per
// protocol and family, reads them back, drains the real server (weight 0)
// and deletes both.
func TestVirtualServerRoundTrip(t *testing.T) {
	h := newIPVS(t)
	cases := []struct {
		name       string
		svc        ipvs.Service
		realServer string
	}{
		{name: "tcp-ipv4-rr", realServer: "198.18.1.2",
			svc: ipvs.Service{Address: net.ParseIP("198.18.100.1"), Protocol: syscall.IPPROTO_TCP, Port: 80,
				SchedName: "rr", AddressFamily: syscall.AF_INET, Netmask: 0xffffffff}},
		{name: "udp-ipv4-persistent", realServer: "198.18.1.3",
			svc: ipvs.Service{Address: net.ParseIP("198.18.100.1"), Protocol: syscall.IPPROTO_UDP, Port: 53,
				SchedName: "rr", AddressFamily: syscall.AF_INET, Netmask: 0xffffffff,
				Flags: svcFlagPersistent, Timeout: 10800}},
		{name: "sctp-ipv4-sh", realServer: "198.18.1.4",
			svc: ipvs.Service{Address: net.ParseIP("198.18.100.1"), Protocol: syscall.IPPROTO_SCTP, Port: 9000,
				SchedName: "sh", AddressFamily: syscall.AF_INET, Netmask: 0xffffffff}},
		{name: "tcp-ipv6-mh", realServer: "fd00:198:18:1::2",
			svc: ipvs.Service{Address: net.ParseIP("fd00:198:18::100"), Protocol: syscall.IPPROTO_TCP, Port: 443,
				SchedName: "mh", AddressFamily: syscall.AF_INET6, Netmask: 128}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := tc.svc
			dst := &ipvs.Destination{Address: net.ParseIP(tc.realServer), Port: 8080, Weight: 1,
				ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: svc.AddressFamily}
			if err := h.NewService(&svc); err != nil {
				t.Fatalf("Adding virtual server: %v", err)
			}
			if err := h.NewDestination(&svc, dst); err != nil {
				t.Fatalf("Adding real server: %v", err)
			}
			checkService(t, h, &svc)
			checkDestinations(t, h, &svc, dst, 1)

			dst.Weight = 0
			if err := h.UpdateDestination(&svc, dst); err != nil {
				t.Fatalf("Setting weight 0: %v", err)
			}
			checkDestinations(t, h, &svc, dst, 0)

			if err := h.DelService(&svc); err != nil {
				t.Fatalf("Deleting virtual server: %v", err)
			}
			if h.IsServicePresent(&svc) {
				t.Error("virtual server still present after delete")
			}
		})
	}
}

func checkService(t *testing.T, h *ipvs.Handle, want *ipvs.Service) {
	t.Helper()
	got, err := h.GetService(want)
	if err != nil {
		t.Fatalf("Reading virtual server back: %v", err)
	}
	if !got.Address.Equal(want.Address) || got.Port != want.Port || got.Protocol != want.Protocol ||
		got.SchedName != want.SchedName || got.Flags&svcFlagPersistent != want.Flags ||
		got.Timeout != want.Timeout || got.AddressFamily != want.AddressFamily {
		t.Errorf("virtual server read back as %+v, want %+v", *got, *want)
	}
}

func checkDestinations(t *testing.T, h *ipvs.Handle, svc *ipvs.Service, want *ipvs.Destination, weight int) {
	t.Helper()
	got, err := h.GetDestinations(svc)
	if err != nil {
		t.Fatalf("Reading real servers back: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d real servers, want 1", len(got))
	}
	d := got[0]
	if !d.Address.Equal(want.Address) || d.Port != want.Port || d.Weight != weight ||
		d.ConnectionFlags&ipvs.ConnectionFlagFwdMask != ipvs.ConnectionFlagMasq {
		t.Errorf("real server read back as %+v, want %s:%d weight %d masq", *d, want.Address, want.Port, weight)
	}
}

// TestDummyInterface creates a kube-ipvs0-like dummy, binds an IPv4 and an
// IPv6 service address, lists them, and deletes the link.
func TestDummyInterface(t *testing.T) {
	link := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "smoke-ipvs0"}}
	if err := netlink.LinkAdd(link); err != nil {
		t.Fatalf("Adding dummy: %v", err)
	}
	defer func() {
		if err := netlink.LinkDel(link); err != nil {
			t.Errorf("Deleting dummy: %v", err)
		}
	}()
	want := []string{"198.18.100.1/32", "fd00:198:18::100/128"}
	for _, a := range want {
		addr, err := netlink.ParseAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.AddrAdd(link, addr); err != nil {
			t.Fatalf("Binding %s: %v", a, err)
		}
	}
	got, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range got {
		seen[a.IPNet.String()] = true
	}
	for _, a := range want {
		if !seen[a] {
			t.Errorf("address %s not bound; have %v", a, got)
		}
	}
}
