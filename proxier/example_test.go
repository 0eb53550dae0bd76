package proxier_test

import (
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func exampleObjects() ([]*v1.Service, []*discovery.EndpointSlice) {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, ClusterIPs: []string{"198.18.0.10"},
			Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}}},
	}
	slice := &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "shop", Name: "web-abcde", Labels: map[string]string{discovery.LabelServiceName: "web"}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: new("http"), Port: new(int32(8080)), Protocol: new(v1.ProtocolTCP)}},
		Endpoints: []discovery.Endpoint{
			{Addresses: []string{"198.18.10.1"}, Conditions: discovery.EndpointConditions{Ready: new(true)}},
			// Shutting down: keeps its connections, takes no new ones.
			{Addresses: []string{"198.18.10.2"}, Conditions: discovery.EndpointConditions{Ready: new(false), Serving: new(true), Terminating: new(true)}},
		},
	}
	return []*v1.Service{svc}, []*discovery.EndpointSlice{slice}
}

func ExampleBuild() {
	svcs, slices := exampleObjects()
	node := proxier.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("198.18.1.1")}}
	desired, problems := proxier.Build(svcs, slices, node, proxier.Config{})
	fmt.Print(desired.Dump("kube-ipvs0"))
	fmt.Println(len(problems), "problems")
	// Output:
	// # ipvs
	// -A -t 198.18.0.10:80 -s rr
	// -a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1
	// -a -t 198.18.0.10:80 -r 198.18.10.2:8080 -m -w 0
	// # addresses kube-ipvs0
	// 198.18.0.10
	// # netfilter
	// masquerade-all false
	// port cluster-ip tcp 198.18.0.10:80
	// 0 problems
}

func ExampleDiff() {
	svcs, slices := exampleObjects()
	node := proxier.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("198.18.1.1")}}
	desired, _ := proxier.Build(svcs, slices, node, proxier.Config{})
	observed := model.NewState() // an empty kernel
	fmt.Print(proxier.Diff(desired, observed))
	// Output:
	// -A -t 198.18.0.10:80 -s rr
	// -a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1
	// -a -t 198.18.0.10:80 -r 198.18.10.2:8080 -m -w 0
	// addr add 198.18.0.10/32
	// netfilter replace
	//   masquerade-all false
	//   port cluster-ip tcp 198.18.0.10:80
}
