package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
)

// fakeNet is a Listen that opens no socket: it records which addresses
// listen and how often each was opened, and refuses the addresses in fail.
type fakeNet struct {
	mu     sync.Mutex
	open   map[string]bool
	opened map[string]int
	fail   map[string]bool
}

func newFakeNet() *fakeNet {
	return &fakeNet{open: map[string]bool{}, opened: map[string]int{}, fail: map[string]bool{}}
}

func (n *fakeNet) listen(_ context.Context, _, address string) (net.Listener, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail[address] || n.open[address] {
		return nil, fmt.Errorf("listen tcp %s: %w", address, syscall.EADDRINUSE)
	}
	n.open[address] = true
	n.opened[address]++
	return &fakeListener{net: n, address: address, closed: make(chan struct{})}, nil
}

// state returns the listening addresses, sorted, and resets the counts.
func (n *fakeNet) state() (open []string, opened map[string]int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	opened, n.opened = n.opened, map[string]int{}
	return slices.Sorted(maps.Keys(n.open)), opened
}

func (n *fakeNet) setFail(address string, fail bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fail[address] = fail
}

// fakeListener accepts nothing until it is closed.
type fakeListener struct {
	net     *fakeNet
	address string
	once    sync.Once
	closed  chan struct{}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	<-l.closed
	return nil, net.ErrClosed
}

func (l *fakeListener) Close() error {
	l.once.Do(func() {
		l.net.mu.Lock()
		delete(l.net.open, l.address)
		l.net.mu.Unlock()
		close(l.closed)
	})
	return nil
}

func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

// TestServiceSetAddresses walks the health checks through address changes
// (the --nodeport-addresses matches of a node whose interfaces change):
// listeners follow, those on unchanged addresses stay open, and a port that
// cannot be bound on a new address closes that service only, reported once
// and retried.
func TestServiceSetAddresses(t *testing.T) {
	n := newFakeNet()
	s := NewServiceServers(ServiceConfig{Addresses: []string{"10.0.0.1"}, Proxy: &fakeProxy{healthy: true}, Listen: n.listen})
	t.Cleanup(func() { _ = s.SyncServices(nil) })
	both := map[types.NamespacedName]uint16{web: 30001, api: 30002}
	if err := s.SyncServices(both); err != nil {
		t.Fatal(err)
	}
	n.state()
	steps := []struct {
		name      string
		do        func() error
		open      []string
		opened    map[string]int
		ports     map[types.NamespacedName]uint16
		bindError *types.NamespacedName
	}{
		{name: "an address added", do: setAddrs(s, "10.0.0.2", "10.0.0.1"),
			open:   []string{"10.0.0.1:30001", "10.0.0.1:30002", "10.0.0.2:30001", "10.0.0.2:30002"},
			opened: map[string]int{"10.0.0.2:30001": 1, "10.0.0.2:30002": 1}, ports: both},
		{name: "same addresses: nothing reopened", do: setAddrs(s, "10.0.0.1", "10.0.0.2"),
			open:   []string{"10.0.0.1:30001", "10.0.0.1:30002", "10.0.0.2:30001", "10.0.0.2:30002"},
			opened: map[string]int{}, ports: both},
		{name: "an address removed", do: setAddrs(s, "10.0.0.2"),
			open: []string{"10.0.0.2:30001", "10.0.0.2:30002"}, opened: map[string]int{}, ports: both},
		{name: "no filter: all addresses", do: func() error { return s.SetAddresses(nil) },
			open: []string{":30001", ":30002"}, opened: map[string]int{":30001": 1, ":30002": 1}, ports: both},
		{name: "filter matching nothing: no listener", do: setAddrs(s),
			open: nil, opened: map[string]int{}, ports: both},
		{name: "new address taken for api", do: func() error { n.setFail("10.0.0.3:30002", true); return setAddrs(s, "10.0.0.3")() },
			open: []string{"10.0.0.3:30001"}, opened: map[string]int{"10.0.0.3:30001": 1},
			ports: map[types.NamespacedName]uint16{web: 30001}, bindError: &api},
		{name: "retry while still taken: silent", do: func() error { s.Retry(); return nil },
			open: []string{"10.0.0.3:30001"}, opened: map[string]int{}, ports: map[types.NamespacedName]uint16{web: 30001}},
		{name: "retry once free", do: func() error { n.setFail("10.0.0.3:30002", false); s.Retry(); return nil },
			open: []string{"10.0.0.3:30001", "10.0.0.3:30002"}, opened: map[string]int{"10.0.0.3:30002": 1}, ports: both},
	}
	for _, step := range steps {
		err := step.do()
		var bindErr *BindError
		switch {
		case step.bindError == nil && err != nil:
			t.Errorf("%s: error %v, want nil", step.name, err)
		case step.bindError != nil && (!errors.As(err, &bindErr) || bindErr.Service != *step.bindError || !errors.Is(err, syscall.EADDRINUSE)):
			t.Errorf("%s: error %v, want a BindError for %s", step.name, err, *step.bindError)
		}
		open, opened := n.state()
		if diff := cmp.Diff(step.open, open); diff != "" {
			t.Errorf("%s: listening (-want +got):\n%s", step.name, diff)
		}
		if diff := cmp.Diff(step.opened, opened); diff != "" {
			t.Errorf("%s: listeners opened (-want +got):\n%s", step.name, diff)
		}
		if diff := cmp.Diff(step.ports, s.Ports()); diff != "" {
			t.Errorf("%s: Ports (-want +got):\n%s", step.name, diff)
		}
	}
}

func setAddrs(s *ServiceServers, addrs ...string) func() error {
	return func() error { return s.SetAddresses(append([]string{}, addrs...)) }
}

// TestServiceSetAddressesServes moves a health check off 127.0.0.1 and
// back on real sockets: the port is refused in between and answers again.
func TestServiceSetAddressesServes(t *testing.T) {
	p := freePorts(t, 1)
	s := newServiceRig(t, &fakeProxy{healthy: true})
	s.SyncEndpoints(map[types.NamespacedName]int{web: 1})
	if err := s.SyncServices(map[types.NamespacedName]uint16{web: p[0]}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAddresses([]string{}); err != nil {
		t.Fatal(err)
	}
	if !refused(localAddr(p[0])) {
		t.Errorf("port %d answers with no address, want refused", p[0])
	}
	if err := s.SetAddresses([]string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if status, _ := probe(t, p[0]); status != http.StatusOK {
		t.Errorf("back on 127.0.0.1: status %d, want 200", status)
	}
}
