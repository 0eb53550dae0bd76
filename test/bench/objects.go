package bench

import (
	"encoding/json"
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The objects every run sees. Service i is a ClusterIP service with one
// TCP port; its one EndpointSlice holds EndpointsPerService ready endpoints
// on another node. Cluster IPs are fixed, so the guest knows every virtual
// server without listing the API. No packet is ever sent to them: the
// endpoints are in 198.19.0.0/16, which the guest blackholes.
const (
	Namespace           = "bench"
	EndpointsPerService = 10
	ServicePort         = 80
	TargetPort          = 8080
	// MaxServices is what the cluster-IP plan below has room for: the
	// service CIDR's 65,279 and OverflowCIDR's 40,960.
	MaxServices = inServiceCIDR + 40_960
	// inServiceCIDR is how many cluster IPs 198.18.1.0-198.18.255.254 holds
	// (the API server never allocates a range's broadcast address).
	inServiceCIDR = 65_279
	// OverflowCIDR is the extra ServiceCIDR the API server needs for more
	// than 65,279 services (Populate creates it); their cluster IPs are
	// 198.19.32.0-198.19.191.255, clear of the endpoints, the extra
	// endpoints and the VM's own addresses.
	OverflowCIDR = "198.19.0.0/16"
	// endpointPool is how many endpoint addresses services share.
	endpointPool = 8192
	// endpointNode is a node other than the guest's, so that no endpoint is
	// local.
	endpointNode = "bench-other"
	// MaxChanged is how many services the change phase may touch: each gets
	// one extra endpoint address of its own.
	MaxChanged = 1024
)

// ServiceName returns service i's name.
func ServiceName(i int) string { return fmt.Sprintf("svc-%05d", i) }

// ClusterIP returns service i's cluster IP: 198.18.1.0 + i, clear of the
// range's first addresses (198.18.0.1 is the kubernetes Service's), then
// from service 65,279 on 198.19.32.0 + (i - 65,279) in OverflowCIDR.
func ClusterIP(i int) netip.Addr {
	if i < inServiceCIDR {
		return offset(firstClusterIP, i)
	}
	return offset(firstOverflowIP, i-inServiceCIDR)
}

// ServiceIndex is ClusterIP's inverse: which service has cluster IP ip.
func ServiceIndex(ip netip.Addr) (int, bool) {
	if d := distance(firstClusterIP, ip); d >= 0 && d < inServiceCIDR {
		return d, true
	}
	if d := distance(firstOverflowIP, ip); d >= 0 && d < MaxServices-inServiceCIDR {
		return inServiceCIDR + d, true
	}
	return 0, false
}

var (
	firstClusterIP  = netip.MustParseAddr("198.18.1.0")
	firstOverflowIP = netip.MustParseAddr("198.19.32.0")
)

// EndpointIP returns endpoint j of service i. The 8,192 addresses of
// 198.19.0.0/19 are reused across services: a real server is keyed by its
// virtual server too, so repeats cost the kernel nothing special (before
// 100k services needed the room for cluster IPs, the pool was 51,200
// addresses; results up to 2026-12-07T0401Z used it).
func EndpointIP(i, j int) netip.Addr {
	return offset(netip.MustParseAddr("198.19.0.0"), (i*EndpointsPerService+j)%endpointPool)
}

// ExtraIP returns the address of the endpoint the change phase adds to, and
// later removes from, service number k of the changed ones (k < MaxChanged):
// 198.19.220.0/22, used by no service's initial endpoints.
func ExtraIP(k int) netip.Addr {
	return offset(netip.MustParseAddr("198.19.220.0"), k%MaxChanged)
}

func offset(base netip.Addr, n int) netip.Addr {
	v := u32(base) + uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// distance is ip - base, or -1 if ip is not an IPv4 address at or after base.
func distance(base, ip netip.Addr) int {
	if !ip.Is4() || ip.Less(base) {
		return -1
	}
	return int(u32(ip) - u32(base))
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Service returns service i.
func Service(i int) *v1.Service {
	ip := ClusterIP(i).String()
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: ServiceName(i)},
		Spec: v1.ServiceSpec{
			Type:       v1.ServiceTypeClusterIP,
			ClusterIP:  ip,
			ClusterIPs: []string{ip},
			IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
			Ports: []v1.ServicePort{{Name: "http", Port: ServicePort, Protocol: v1.ProtocolTCP,
				TargetPort: intstr.FromInt32(TargetPort)}},
		},
	}
}

// Slice returns service i's EndpointSlice with its EndpointsPerService
// endpoints, and the endpoints at extra after them.
func Slice(i int, extra ...netip.Addr) *discovery.EndpointSlice {
	return &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: ServiceName(i) + "-bench",
			Labels: map[string]string{discovery.LabelServiceName: ServiceName(i)}},
		AddressType: discovery.AddressTypeIPv4,
		Ports: []discovery.EndpointPort{{Name: new("http"), Protocol: new(v1.ProtocolTCP),
			Port: new(int32(TargetPort))}},
		Endpoints: endpoints(i, extra),
	}
}

func endpoints(i int, extra []netip.Addr) []discovery.Endpoint {
	addrs := make([]netip.Addr, 0, EndpointsPerService+len(extra))
	for j := range EndpointsPerService {
		addrs = append(addrs, EndpointIP(i, j))
	}
	addrs = append(addrs, extra...)
	out := make([]discovery.Endpoint, len(addrs))
	for k, a := range addrs {
		// Like the EndpointSlice controller's: each endpoint names its pod.
		pod := fmt.Sprintf("%s-%x", ServiceName(i), k)
		out[k] = discovery.Endpoint{
			Addresses:  []string{a.String()},
			Conditions: discovery.EndpointConditions{Ready: new(true), Serving: new(true), Terminating: new(false)},
			NodeName:   new(endpointNode),
			TargetRef: &v1.ObjectReference{Kind: "Pod", Namespace: Namespace, Name: pod,
				UID: types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012x", i<<8|k))},
		}
	}
	return out
}

// EndpointsPatch returns a JSON merge patch that sets service i's
// endpoints to its own and those at extra: one API write, no read first.
func EndpointsPatch(i int, extra ...netip.Addr) ([]byte, error) {
	return json.Marshal(map[string]any{"endpoints": endpoints(i, extra)})
}

// Changed returns the index of the k-th of n changed services among
// services: spread evenly, all distinct.
func Changed(k, n, services int) int {
	if n > services {
		n = services
	}
	return k * services / n
}
