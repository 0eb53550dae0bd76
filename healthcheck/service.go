package healthcheck

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// ProxyState is what the service health servers ask about the proxy.
// *ProxyServer implements it.
type ProxyState interface {
	// IsHealthy reports the proxy's own health (ProxyServer.IsHealthy).
	IsHealthy() bool
	// LameDuck reports whether the process is shutting down.
	LameDuck() bool
}

var _ ProxyState = (*ProxyServer)(nil)

// ServiceConfig configures ServiceServers.
type ServiceConfig struct {
	// Addresses are the IP addresses each health-check node port is bound
	// on; kube-proxy binds the node addresses matching
	// --nodeport-addresses. Empty, or any "" element, means all addresses
	// (one listener on ":port").
	Addresses []string
	// Proxy tells whether the proxy is healthy; required.
	Proxy ProxyState
	// Listen opens a TCP listener; it defaults to net.ListenConfig.Listen.
	Listen func(ctx context.Context, network, address string) (net.Listener, error)
	// Logger receives the open/close messages; it defaults to
	// klog.Background().
	Logger klog.Logger
}

// ServiceServers runs one HTTP server per healthCheckNodePort of the
// services with externalTrafficPolicy Local. Load balancers probe it to
// learn whether this node has ready endpoints of the service: it answers
// 200 when it has some and the proxy is healthy, 503 otherwise and during
// the lame duck. All its methods are safe for concurrent use.
type ServiceServers struct {
	cfg       ServiceConfig
	addresses []string

	mu        sync.RWMutex
	services  map[types.NamespacedName]*serviceServer
	endpoints map[types.NamespacedName]int
	// failed holds the ports that could not be bound and were reported;
	// SyncServices retries them without reporting them again.
	failed map[types.NamespacedName]uint16
}

// serviceServer is the open health check of one service.
type serviceServer struct {
	port    uint16
	servers []*http.Server
	wg      sync.WaitGroup
}

// NewServiceServers returns ServiceServers with no server open.
func NewServiceServers(cfg ServiceConfig) *ServiceServers {
	if cfg.Listen == nil {
		cfg.Listen = (&net.ListenConfig{}).Listen
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = klog.Background()
	}
	return &ServiceServers{
		cfg:       cfg,
		addresses: bindAddresses(cfg.Addresses),
		services:  map[types.NamespacedName]*serviceServer{},
		endpoints: map[types.NamespacedName]int{},
		failed:    map[types.NamespacedName]uint16{},
	}
}

// bindAddresses returns the sorted, unique addresses to bind, or [""] (all
// addresses) when there are none or one of them is "".
func bindAddresses(addrs []string) []string {
	if len(addrs) == 0 || slices.Contains(addrs, "") {
		return []string{""}
	}
	out := slices.Clone(addrs)
	slices.Sort(out)
	return slices.Compact(out)
}

// BindError reports a health-check node port that could not be opened.
type BindError struct {
	Service types.NamespacedName
	Port    uint16
	Err     error
}

func (e *BindError) Error() string {
	return fmt.Sprintf("opening health check of service %s on port %d: %v", e.Service, e.Port, e.Err)
}

func (e *BindError) Unwrap() error { return e.Err }

// SyncServices makes services (name → healthCheckNodePort) the set of open
// health checks: it closes those of services not in it or whose port
// changed, then opens the new ones. A port that cannot be bound (on any of
// the addresses) is left closed and retried on every call; the returned
// error joins one *BindError per port that failed for the first time, so
// each failure is reported once. Calling it with nil closes everything.
func (s *ServiceServers) SyncServices(services map[types.NamespacedName]uint16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, srv := range s.services {
		if port, ok := services[name]; !ok || port != srv.port {
			s.cfg.Logger.V(2).Info("Closed service health check", "service", name, "port", srv.port)
			srv.close()
			delete(s.services, name)
		}
	}
	for name, port := range s.failed {
		if services[name] != port {
			delete(s.failed, name)
		}
	}
	var errs []error
	for _, name := range sortedNames(services) {
		port := services[name]
		if s.services[name] != nil {
			continue
		}
		srv, err := s.open(name, port)
		if err != nil {
			if _, reported := s.failed[name]; !reported {
				errs = append(errs, &BindError{Service: name, Port: port, Err: err})
				s.failed[name] = port
			}
			continue
		}
		delete(s.failed, name)
		s.services[name] = srv
		s.cfg.Logger.V(2).Info("Opened service health check", "service", name, "port", port)
	}
	return errors.Join(errs...)
}

// SyncEndpoints records the number of ready endpoints each service has on
// this node; services not in endpoints have none. Counts of services
// without an open health check are kept for when it opens.
func (s *ServiceServers) SyncEndpoints(endpoints map[types.NamespacedName]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints = maps.Clone(endpoints)
}

// Ports returns the open health-check ports by service.
func (s *ServiceServers) Ports() map[types.NamespacedName]uint16 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[types.NamespacedName]uint16, len(s.services))
	for name, srv := range s.services {
		out[name] = srv.port
	}
	return out
}

// open listens on port on every address and serves the health check of
// name there. When one address fails it closes the others.
func (s *ServiceServers) open(name types.NamespacedName, port uint16) (*serviceServer, error) {
	if port == 0 {
		return nil, errors.New("no port")
	}
	srv := &serviceServer{port: port}
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { s.serve(w, name) })
	for _, addr := range s.addresses {
		hostPort := net.JoinHostPort(addr, strconv.Itoa(int(port)))
		ln, err := s.cfg.Listen(context.Background(), "tcp", hostPort)
		if err != nil {
			srv.close()
			return nil, err
		}
		hs := newHTTPServer(handler)
		srv.servers = append(srv.servers, hs)
		srv.wg.Go(func() {
			// Serve returns ErrServerClosed after close; any other error
			// means the listener broke, and the load balancer sees the
			// port closed, which is the right signal.
			if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				s.cfg.Logger.Error(err, "Stopped service health check", "service", name, "address", hostPort)
			}
		})
	}
	return srv, nil
}

// close closes the listeners and connections and waits for the serving
// goroutines to return.
func (srv *serviceServer) close() {
	for _, hs := range srv.servers {
		_ = hs.Close() // only returns the listener's close error; nothing to do
	}
	srv.wg.Wait()
}

// ServiceHealth is the JSON body of a service health check, field for field
// kube-proxy's.
type ServiceHealth struct {
	Service        ServiceName `json:"service"`
	LocalEndpoints int         `json:"localEndpoints"`
	// ServiceProxyHealthy is the proxy's own health (ProxyServer.IsHealthy);
	// it is false during the lame duck.
	ServiceProxyHealthy bool `json:"serviceProxyHealthy"`
}

// ServiceName names the service in a ServiceHealth.
type ServiceName struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (s *ServiceServers) serve(w http.ResponseWriter, name types.NamespacedName) {
	s.mu.RLock()
	_, open := s.services[name]
	count := s.endpoints[name]
	s.mu.RUnlock()
	if !open {
		count = 0 // a request racing the close
	}
	body := ServiceHealth{
		Service:             ServiceName{Namespace: name.Namespace, Name: name.Name},
		LocalEndpoints:      count,
		ServiceProxyHealthy: s.cfg.Proxy.IsHealthy() && !s.cfg.Proxy.LameDuck(),
	}
	status := http.StatusServiceUnavailable
	if count > 0 && body.ServiceProxyHealthy {
		status = http.StatusOK
	}
	// kube-proxy indents this body with tabs; MarshalIndent gives the same.
	b, err := json.MarshalIndent(body, "", "\t")
	if err != nil {
		panic(fmt.Sprintf("encoding ServiceHealth: %v", err))
	}
	writeJSON(w, status, b)
}

func sortedNames[V any](m map[types.NamespacedName]V) []types.NamespacedName {
	names := slices.Collect(maps.Keys(m))
	slices.SortFunc(names, func(a, b types.NamespacedName) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return names
}
