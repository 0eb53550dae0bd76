package guest

import (
	"errors"
	"net/netip"
)

// BackendPort is the port every backend serves, TCP and UDP.
const BackendPort = 8080

// Pod is a backend: a namespace with a Server named like it on BackendPort.
type Pod struct {
	Name string
	Net  *Netns
	Srv  *Server
}

// StartPod creates namespace name with index idx (1-127) and serves name in
// it.
func StartPod(name string, idx int) (*Pod, error) {
	if idx >= firstClient {
		return nil, errors.New("pod index must be below 128 (inside the cluster CIDR)")
	}
	ns, err := NewNetns(name, idx)
	if err != nil {
		return nil, err
	}
	srv, err := Serve(ns, name, BackendPort)
	if err != nil {
		return nil, errors.Join(err, ns.Close())
	}
	return &Pod{Name: name, Net: ns, Srv: srv}, nil
}

// Addr returns the pod's IPv4 or IPv6 address.
func (p *Pod) Addr(v6 bool) netip.Addr { return p.Net.Addr(v6) }

// Close stops the servers and deletes the namespace.
func (p *Pod) Close() error {
	return errors.Join(p.Srv.Close(), p.Net.Close())
}
