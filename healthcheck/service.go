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
	// --nodeport-addresses. nil, or any "" element, means all addresses
	// (one listener on ":port"); an empty list means none, as kube-proxy
	// when --nodeport-addresses matches no node address (the health checks
	// are then open but refuse every connection). SetAddresses changes them.
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
	cfg ServiceConfig

	mu        sync.RWMutex
	addresses []string
	services  map[types.NamespacedName]*serviceServer
	endpoints map[types.NamespacedName]int
	// failed holds the ports that could not be bound and were reported;
	// SyncServices retries them without reporting them again.
	failed map[types.NamespacedName]uint16
}

// serviceServer is the open health check of one service: one listener per
// bind address.
type serviceServer struct {
	port      uint16
	listeners map[string]*listener // by address, "" for all
}

// listener is one HTTP server on one address; done closes when it stopped.
type listener struct {
	server *http.Server
	done   chan struct{}
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

// bindAddresses returns the sorted, unique addresses to bind: [""] (all
// addresses) for nil or when one of them is "", none for an empty list.
func bindAddresses(addrs []string) []string {
	if addrs == nil || slices.Contains(addrs, "") {
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
// the addresses) is left closed, as kube-proxy does, and retried by the
// next SyncServices or Retry; the returned error joins one *BindError per
// port that failed for the first time, so each failure is reported once.
// The other services are served either way. Calling it with nil closes
// everything.
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
		if s.services[name] != nil {
			continue
		}
		if err := s.openOrFail(name, services[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Retry tries again to open the health checks that could not be opened.
// Their failures were reported when they happened, so Retry reports
// nothing; the daemon calls it on every sync, as kube-proxy retries on
// every SyncServices.
func (s *ServiceServers) Retry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range sortedNames(s.failed) {
		_ = s.openOrFail(name, s.failed[name]) // reported already
	}
}

// SetAddresses sets the addresses the health checks listen on (as
// ServiceConfig.Addresses) and moves the open ones there: each closes its
// listeners on the addresses that went and opens listeners on the new ones,
// leaving the others untouched so that probes on unchanged addresses are
// not interrupted. A health check that cannot listen on a new address is
// closed and retried, as a failed SyncServices; the returned error joins
// their *BindErrors.
func (s *ServiceServers) SetAddresses(addrs []string) error {
	next := bindAddresses(addrs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Equal(next, s.addresses) {
		return nil
	}
	gone, added := subtract(s.addresses, next), subtract(next, s.addresses)
	s.cfg.Logger.V(2).Info("Moved service health checks", "addresses", next, "services", len(s.services))
	s.addresses = next
	var errs []error
	for _, name := range sortedNames(s.services) {
		srv := s.services[name]
		srv.closeOn(gone)
		if err := s.listen(srv, name, added); err != nil {
			srv.close()
			delete(s.services, name)
			s.failed[name] = srv.port
			errs = append(errs, &BindError{Service: name, Port: srv.port, Err: err})
		}
	}
	return errors.Join(errs...)
}

// openOrFail opens the health check of name on port; on failure it records
// the port as failed and returns a *BindError if the failure is new.
func (s *ServiceServers) openOrFail(name types.NamespacedName, port uint16) error {
	srv, err := s.open(name, port)
	if err != nil {
		_, reported := s.failed[name]
		s.failed[name] = port
		if reported {
			return nil
		}
		return &BindError{Service: name, Port: port, Err: err}
	}
	delete(s.failed, name)
	s.services[name] = srv
	s.cfg.Logger.V(2).Info("Opened service health check", "service", name, "port", port)
	return nil
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
// name there. When one address fails it closes the others, as kube-proxy
// does, so that the retry can bind the port whole.
func (s *ServiceServers) open(name types.NamespacedName, port uint16) (*serviceServer, error) {
	if port == 0 {
		return nil, errors.New("no port")
	}
	srv := &serviceServer{port: port, listeners: map[string]*listener{}}
	if err := s.listen(srv, name, s.addresses); err != nil {
		srv.close()
		return nil, err
	}
	return srv, nil
}

// listen opens srv's port on each of addrs and serves name's health check
// there. It stops at the first failure, leaving the listeners it opened in
// srv for the caller to close.
func (s *ServiceServers) listen(srv *serviceServer, name types.NamespacedName, addrs []string) error {
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { s.serve(w, name) })
	for _, addr := range addrs {
		hostPort := net.JoinHostPort(addr, strconv.Itoa(int(srv.port)))
		ln, err := s.cfg.Listen(context.Background(), "tcp", hostPort)
		if err != nil {
			return err
		}
		l := &listener{server: newHTTPServer(handler), done: make(chan struct{})}
		srv.listeners[addr] = l
		go func() {
			defer close(l.done)
			// Serve returns ErrServerClosed after close; any other error
			// means the listener broke, and the load balancer sees the
			// port closed, which is the right signal.
			if err := l.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				s.cfg.Logger.Error(err, "Stopped service health check", "service", name, "address", hostPort)
			}
		}()
	}
	return nil
}

// closeOn closes srv's listeners on addrs.
func (srv *serviceServer) closeOn(addrs []string) {
	for _, addr := range addrs {
		if l := srv.listeners[addr]; l != nil {
			l.close()
			delete(srv.listeners, addr)
		}
	}
}

// close closes every listener of srv.
func (srv *serviceServer) close() {
	for addr, l := range srv.listeners {
		l.close()
		delete(srv.listeners, addr)
	}
}

// close closes the listener and its connections and waits for its serving
// goroutine to return.
func (l *listener) close() {
	_ = l.server.Close() // only returns the listener's close error; nothing to do
	<-l.done
}

// subtract returns the elements of a not in b.
func subtract(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
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
