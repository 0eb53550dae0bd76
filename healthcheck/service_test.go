package healthcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
)

// fakeProxy is a ProxyState the test sets directly.
type fakeProxy struct {
	mu            sync.Mutex
	healthy, lame bool
}

func (p *fakeProxy) IsHealthy() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.healthy }
func (p *fakeProxy) LameDuck() bool  { p.mu.Lock(); defer p.mu.Unlock(); return p.lame }

func (p *fakeProxy) set(healthy, lame bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.healthy, p.lame = healthy, lame
}

var (
	web = types.NamespacedName{Namespace: "shop", Name: "web"}
	api = types.NamespacedName{Namespace: "shop", Name: "api"}
	dns = types.NamespacedName{Namespace: "kube-system", Name: "dns"}
)

// freePorts returns n ports that were free on 127.0.0.1 a moment ago.
func freePorts(t *testing.T, n int) []uint16 {
	t.Helper()
	var ports []uint16
	for range n {
		ln := listenLocal(t)
		defer ln.Close()
		ports = append(ports, uint16(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports
}

func newServiceRig(t *testing.T, proxy ProxyState) *ServiceServers {
	t.Helper()
	s := NewServiceServers(ServiceConfig{Addresses: []string{"127.0.0.1"}, Proxy: proxy})
	t.Cleanup(func() {
		if err := s.SyncServices(nil); err != nil {
			t.Errorf("closing everything: %v", err)
		}
	})
	return s
}

func localAddr(port uint16) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))) }

// probe GETs a health-check port like a load balancer and decodes the body.
func probe(t *testing.T, port uint16) (int, ServiceHealth) {
	t.Helper()
	status, body, h := httpGet(t, "http://"+localAddr(port)+"/")
	checkHeaders(t, h)
	var got ServiceHealth
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	return status, got
}

// TestServiceAnswers checks the status and body for each combination of
// local endpoints, proxy health and lame duck.
func TestServiceAnswers(t *testing.T) {
	tests := []struct {
		name           string
		endpoints      map[types.NamespacedName]int
		healthy, lame  bool
		status         int
		local          int
		serviceProxyOK bool
	}{
		{name: "local endpoints, proxy healthy", endpoints: map[types.NamespacedName]int{web: 3},
			healthy: true, status: http.StatusOK, local: 3, serviceProxyOK: true},
		{name: "no local endpoints", endpoints: map[types.NamespacedName]int{web: 0},
			healthy: true, status: http.StatusServiceUnavailable, local: 0, serviceProxyOK: true},
		{name: "service missing from the endpoint counts", endpoints: map[types.NamespacedName]int{api: 2},
			healthy: true, status: http.StatusServiceUnavailable, local: 0, serviceProxyOK: true},
		{name: "proxy unhealthy", endpoints: map[types.NamespacedName]int{web: 3},
			healthy: false, status: http.StatusServiceUnavailable, local: 3, serviceProxyOK: false},
		{name: "lame duck", endpoints: map[types.NamespacedName]int{web: 3},
			healthy: true, lame: true, status: http.StatusServiceUnavailable, local: 3, serviceProxyOK: false},
	}
	ports := freePorts(t, 1)
	proxy := &fakeProxy{}
	s := newServiceRig(t, proxy)
	if err := s.SyncServices(map[types.NamespacedName]uint16{web: ports[0]}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proxy.set(tc.healthy, tc.lame)
			s.SyncEndpoints(tc.endpoints)
			status, got := probe(t, ports[0])
			want := ServiceHealth{
				Service:             ServiceName{Namespace: "shop", Name: "web"},
				LocalEndpoints:      tc.local,
				ServiceProxyHealthy: tc.serviceProxyOK,
			}
			if status != tc.status {
				t.Errorf("status = %d, want %d", status, tc.status)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServiceBodyFormat pins the body byte for byte to kube-proxy's
// tab-indented format.
func TestServiceBodyFormat(t *testing.T) {
	ports := freePorts(t, 1)
	s := newServiceRig(t, &fakeProxy{healthy: true})
	s.SyncEndpoints(map[types.NamespacedName]int{web: 2})
	if err := s.SyncServices(map[types.NamespacedName]uint16{web: ports[0]}); err != nil {
		t.Fatal(err)
	}
	_, body, _ := httpGet(t, "http://"+localAddr(ports[0])+"/anything")
	want := "{\n\t\"service\": {\n\t\t\"namespace\": \"shop\",\n\t\t\"name\": \"web\"\n\t},\n" +
		"\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
}

// TestServiceOpenClose walks the set of services through additions,
// removals and port changes and checks which ports answer.
func TestServiceOpenClose(t *testing.T) {
	p := freePorts(t, 4)
	s := newServiceRig(t, &fakeProxy{healthy: true})
	s.SyncEndpoints(map[types.NamespacedName]int{web: 1, api: 1, dns: 1})
	steps := []struct {
		name     string
		services map[types.NamespacedName]uint16
	}{
		{name: "open two", services: map[types.NamespacedName]uint16{web: p[0], api: p[1]}},
		{name: "add one, keep two", services: map[types.NamespacedName]uint16{web: p[0], api: p[1], dns: p[2]}},
		{name: "remove api", services: map[types.NamespacedName]uint16{web: p[0], dns: p[2]}},
		{name: "web moves port", services: map[types.NamespacedName]uint16{web: p[3], dns: p[2]}},
		{name: "dns takes web's old port", services: map[types.NamespacedName]uint16{web: p[3], dns: p[0]}},
		{name: "close all", services: nil},
	}
	for _, step := range steps {
		if err := s.SyncServices(step.services); err != nil {
			t.Fatalf("%s: SyncServices: %v", step.name, err)
		}
		want := map[types.NamespacedName]uint16{}
		for name, port := range step.services {
			want[name] = port
		}
		if diff := cmp.Diff(want, s.Ports()); diff != "" {
			t.Errorf("%s: Ports (-want +got):\n%s", step.name, diff)
		}
		open := map[uint16]types.NamespacedName{}
		for name, port := range step.services {
			open[port] = name
		}
		for _, port := range p {
			name, ok := open[port]
			if !ok {
				if !refused(localAddr(port)) {
					t.Errorf("%s: port %d answers, want closed", step.name, port)
				}
				continue
			}
			status, got := probe(t, port)
			if status != http.StatusOK || got.Service != (ServiceName{Namespace: name.Namespace, Name: name.Name}) {
				t.Errorf("%s: port %d = %d %+v, want 200 for %s", step.name, port, status, got.Service, name)
			}
		}
	}
}

// TestServiceBindError checks that a taken port is reported once, retried
// silently, and opened when it frees up.
func TestServiceBindError(t *testing.T) {
	p := freePorts(t, 2)
	taken, err := net.Listen("tcp", localAddr(p[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := newServiceRig(t, &fakeProxy{healthy: true})
	services := map[types.NamespacedName]uint16{web: p[0], api: p[1]}

	err = s.SyncServices(services)
	var bindErr *BindError
	if !errors.As(err, &bindErr) || bindErr.Service != web || bindErr.Port != p[0] ||
		!errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("SyncServices = %v, want a BindError for %s port %d wrapping EADDRINUSE", err, web, p[0])
	}
	if diff := cmp.Diff(map[types.NamespacedName]uint16{api: p[1]}, s.Ports()); diff != "" {
		t.Errorf("Ports after the failure (-want +got):\n%s", diff)
	}
	if err := s.SyncServices(services); err != nil {
		t.Errorf("second SyncServices = %v, want nil: the failure was already reported", err)
	}

	taken.Close()
	if err := s.SyncServices(services); err != nil {
		t.Errorf("SyncServices after the port freed = %v", err)
	}
	if diff := cmp.Diff(services, s.Ports()); diff != "" {
		t.Errorf("Ports after the retry (-want +got):\n%s", diff)
	}

	// A new failure of the same service is reported again.
	if err := s.SyncServices(nil); err != nil {
		t.Fatal(err)
	}
	again, err := net.Listen("tcp", localAddr(p[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := s.SyncServices(services); !errors.As(err, &bindErr) {
		t.Errorf("SyncServices after a new conflict = %v, want a BindError", err)
	}
}

// TestServicePartialBind checks that a port failing on one address is
// closed on the others, so that the retry can bind it whole.
func TestServicePartialBind(t *testing.T) {
	p := freePorts(t, 1)
	var mu sync.Mutex
	var asked []string
	listen := func(ctx context.Context, network, address string) (net.Listener, error) {
		mu.Lock()
		asked = append(asked, address)
		mu.Unlock()
		if host, _, _ := net.SplitHostPort(address); host != "127.0.0.1" {
			// Never bound: the test only talks to 127.0.0.1.
			return nil, fmt.Errorf("listen tcp %s: %w", address, syscall.EADDRNOTAVAIL)
		}
		return (&net.ListenConfig{}).Listen(ctx, network, address)
	}
	s := NewServiceServers(ServiceConfig{
		Addresses: []string{"198.18.0.1", "127.0.0.1", "127.0.0.1"},
		Proxy:     &fakeProxy{healthy: true},
		Listen:    listen,
	})
	err := s.SyncServices(map[types.NamespacedName]uint16{web: p[0]})
	if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("SyncServices = %v, want EADDRNOTAVAIL", err)
	}
	want := []string{localAddr(p[0]), net.JoinHostPort("198.18.0.1", strconv.Itoa(int(p[0])))}
	if diff := cmp.Diff(want, asked); diff != "" {
		t.Errorf("addresses asked (-want +got):\n%s", diff)
	}
	if !refused(localAddr(p[0])) {
		t.Errorf("127.0.0.1 listener left open after the other address failed")
	}
	if len(s.Ports()) != 0 {
		t.Errorf("Ports = %v, want none", s.Ports())
	}
}

func TestBindAddresses(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "nil means all", in: nil, want: []string{""}},
		{name: "empty means none", in: []string{}, want: []string{}},
		{name: "empty element means all", in: []string{"10.0.0.1", ""}, want: []string{""}},
		{name: "sorted and unique", in: []string{"10.0.0.2", "10.0.0.1", "10.0.0.2"}, want: []string{"10.0.0.1", "10.0.0.2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, bindAddresses(tc.in)); diff != "" {
				t.Errorf("bindAddresses(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// TestServiceWithProxyServer checks that the ProxyServer's health and lame
// duck reach the service health checks.
func TestServiceWithProxyServer(t *testing.T) {
	p := freePorts(t, 1)
	r := newRig()
	s := newServiceRig(t, r.server)
	s.SyncEndpoints(map[types.NamespacedName]int{web: 1})
	if err := s.SyncServices(map[types.NamespacedName]uint16{web: p[0]}); err != nil {
		t.Fatal(err)
	}
	r.server.Updated()
	if status, _ := probe(t, p[0]); status != http.StatusOK {
		t.Errorf("healthy proxy: status = %d, want 200", status)
	}
	r.server.QueuedUpdate()
	r.clock.Step(testTimeout)
	if status, got := probe(t, p[0]); status != http.StatusServiceUnavailable || got.ServiceProxyHealthy {
		t.Errorf("stale proxy: %d serviceProxyHealthy=%v, want 503 false", status, got.ServiceProxyHealthy)
	}
	r.server.Updated()
	r.server.SyncNode(makeNode(tainted(ToBeDeletedTaint)))
	if status, _ := probe(t, p[0]); status != http.StatusOK {
		t.Errorf("node tainted: status = %d, want 200 (kube-proxy ignores the node here)", status)
	}
	r.server.StartLameDuck()
	if status, _ := probe(t, p[0]); status != http.StatusServiceUnavailable {
		t.Errorf("lame duck: status = %d, want 503", status)
	}
}
