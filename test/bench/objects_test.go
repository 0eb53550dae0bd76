package bench

import (
	"encoding/json"
	"math"
	"net/netip"
	"testing"

	discovery "k8s.io/api/discovery/v1"
)

func TestAddressPlan(t *testing.T) {
	services := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/16"), netip.MustParsePrefix(OverflowCIDR)}
	endpoints := netip.MustParsePrefix("198.19.0.0/19")
	vm := netip.MustParsePrefix("198.19.255.0/24")
	extra := netip.MustParsePrefix("198.19.220.0/22")
	seen := map[netip.Addr]bool{}
	for i := range MaxServices {
		ip := ClusterIP(i)
		if !(services[0].Contains(ip) || services[1].Contains(ip)) || seen[ip] || ip == netip.MustParseAddr("198.18.0.1") ||
			endpoints.Contains(ip) || vm.Contains(ip) || extra.Contains(ip) {
			t.Fatalf("ClusterIP(%d) = %v: want a distinct address of %v other than the kubernetes Service's, the endpoints' and the VM's", i, ip, services)
		}
		if back, ok := ServiceIndex(ip); !ok || back != i {
			t.Fatalf("ServiceIndex(%v) = %d, %v; want %d", ip, back, ok, i)
		}
		seen[ip] = true
		for j := range EndpointsPerService {
			ep := EndpointIP(i, j)
			if !endpoints.Contains(ep) || vm.Contains(ep) || extra.Contains(ep) {
				t.Fatalf("EndpointIP(%d, %d) = %v: want it in %v, outside %v and %v", i, j, ep, endpoints, vm, extra)
			}
		}
	}
	for _, ip := range []string{"198.18.0.1", "198.18.0.255", "198.19.31.255", "198.19.192.0", "10.0.0.1", "fd00::1"} {
		if i, ok := ServiceIndex(netip.MustParseAddr(ip)); ok {
			t.Errorf("ServiceIndex(%s) = %d: want no service", ip, i)
		}
	}
	for k := range MaxChanged {
		if ip := ExtraIP(k); !extra.Contains(ip) {
			t.Fatalf("ExtraIP(%d) = %v: want it in %v", k, ip, extra)
		}
	}
}

func TestEndpointsPatch(t *testing.T) {
	extra := ExtraIP(3)
	patch, err := EndpointsPatch(7, extra)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Endpoints []discovery.Endpoint }
	if err := json.Unmarshal(patch, &got); err != nil {
		t.Fatal(err)
	}
	want := Slice(7, extra).Endpoints
	if len(got.Endpoints) != EndpointsPerService+1 || len(want) != len(got.Endpoints) {
		t.Fatalf("patch has %d endpoints, slice %d; want %d", len(got.Endpoints), len(want), EndpointsPerService+1)
	}
	for k := range want {
		if got.Endpoints[k].Addresses[0] != want[k].Addresses[0] || !*got.Endpoints[k].Conditions.Ready {
			t.Errorf("endpoint %d: patch %v, slice %v", k, got.Endpoints[k], want[k])
		}
	}
}

func TestChangedDistinct(t *testing.T) {
	for _, tc := range []struct{ n, services int }{{100, 1000}, {100, 10000}, {100, 50}} {
		seen := map[int]bool{}
		for k := range min(tc.n, tc.services) {
			i := Changed(k, tc.n, tc.services)
			if i < 0 || i >= tc.services || seen[i] {
				t.Fatalf("Changed(%d, %d, %d) = %d: want a new index below %d", k, tc.n, tc.services, i, tc.services)
			}
			seen[i] = true
		}
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct{ p, want float64 }{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {0, 1}} {
		if got := Percentile(v, tc.p); got != tc.want {
			t.Errorf("Percentile(p%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("Percentile(none) is not NaN")
	}
}
