package main

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
	"github.com/ipvs-proxy/ipvs-proxy/test/bench/probe"
)

// kernel is how the benchmark sees one daemon's work in the kernel.
type kernel interface {
	// complete reports whether every benchmark service is programmed, and
	// what it counted. For IPVS it reads a sample (sampled); count
	// confirms it.
	complete(services int) (done bool, virtual, real int, err error)
	// count returns every virtual and real server (IPVS) or every service's
	// map element (nftables) the kernel holds.
	count() (virtual, real int, err error)
	// prepare is called once after the cold sync, before the changes.
	prepare() error
	// shows reports whether the kernel shows extra as a ready endpoint of
	// service svc (present) or not.
	shows(svc int, extra netip.Addr) (present bool, err error)
}

func newKernel(daemon string) (kernel, error) {
	if daemon == bench.KPNFT {
		nft, err := probe.NewKubeProxyNFT()
		if err != nil {
			return nil, err
		}
		return &nftKernel{nft: nft}, nil
	}
	p, err := probe.NewIPVS()
	if err != nil {
		return nil, err
	}
	return &ipvsKernel{p: p}, nil
}

// ipvsKernel reads IPVS: ipvs-proxy and kube-proxy's IPVS mode.
type ipvsKernel struct {
	p *probe.IPVS
	// done are the sampled services seen with every real server: a cold
	// sync only adds, so they are not read again.
	done map[int]bool
}

// sampleEvery spaces the services complete reads: every 50th and the last,
// 2,000 netlink reads at 100,000 services instead of 100,000.
const sampleEvery = 50

// complete reads a sample of the benchmark services (sampled): the cheap
// test a poll can afford while the daemon syncs. Each sampled service must
// have its virtual server and every real server.
func (k *ipvsKernel) complete(services int) (bool, int, int, error) {
	if k.done == nil {
		k.done = map[int]bool{}
	}
	all := true
	for _, i := range sampled(services) {
		if k.done[i] {
			continue
		}
		n, found, err := k.p.Reals(netip.AddrPortFrom(bench.ClusterIP(i), bench.ServicePort))
		if err != nil {
			return false, 0, 0, err
		}
		if !found || n < bench.EndpointsPerService {
			all = false
			continue
		}
		k.done[i] = true
	}
	seen := 0
	for _, i := range sampled(services) {
		if k.done[i] {
			seen++
		}
	}
	return all, seen, seen * bench.EndpointsPerService, nil
}

// sampled returns the services complete reads: every sampleEvery-th and
// the last.
func sampled(services int) []int {
	var out []int
	for i := 0; i < services-1; i += sampleEvery {
		out = append(out, i)
	}
	return append(out, services-1)
}

func (k *ipvsKernel) count() (int, int, error) { return k.p.Count() }

func (k *ipvsKernel) prepare() error { return nil }

// shows counts a real server of weight 0 as gone: both daemons drain a
// removed endpoint that way, and it gets no new connection.
func (k *ipvsKernel) shows(svc int, extra netip.Addr) (bool, error) {
	w, found, err := k.p.Weight(netip.AddrPortFrom(bench.ClusterIP(svc), bench.ServicePort), extra)
	return found && w > 0, err
}

// nftKernel reads kube-proxy's nftables table.
type nftKernel struct {
	nft    *probe.KubeProxyNFT
	chains map[netip.Addr]string
}

func (k *nftKernel) complete(services int) (bool, int, int, error) {
	chains, err := k.nft.ServiceChains()
	n := 0
	for ip := range chains {
		if i, ok := bench.ServiceIndex(ip); ok && i < services {
			n++
		}
	}
	return err == nil && n >= services, len(chains), 0, err
}

func (k *nftKernel) count() (int, int, error) {
	chains, err := k.nft.ServiceChains()
	return len(chains), 0, err
}

func (k *nftKernel) prepare() error {
	var err error
	k.chains, err = k.nft.ServiceChains()
	return err
}

// shows compares the service chain's numgen modulus with the endpoint
// count: kube-proxy rewrites the chain, endpoint chains included, in one
// transaction.
func (k *nftKernel) shows(svc int, _ netip.Addr) (bool, error) {
	chain, ok := k.chains[bench.ClusterIP(svc)]
	if !ok {
		return false, fmt.Errorf("no service-ips element for service %d (%v)", svc, bench.ClusterIP(svc))
	}
	mod, _, err := k.nft.Modulus(chain)
	return mod == bench.EndpointsPerService+1, err
}

// readKernel times one complete() call.
func readKernel(k kernel, services int) (done bool, vs, rs int, took time.Duration, err error) {
	start := time.Now()
	done, vs, rs, err = k.complete(services)
	return done, vs, rs, time.Since(start), err
}
