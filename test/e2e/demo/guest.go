package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

const ns = "demo"

// demo is the guest part's state.
type demo struct {
	ctx     context.Context
	cluster *guest.Cluster
	pods    []*guest.Pod
	client  *guest.Netns
	svc     *v1.Service
	vip     netip.AddrPort
	held    *guest.Conn
}

// runGuest runs the demo inside the VM.
func runGuest() (err error) {
	stepN = 3
	d := &demo{ctx: context.Background()}
	if err := guest.PrepareNode(); err != nil {
		return err
	}
	if d.cluster, err = guest.Connect(); err != nil {
		return err
	}
	defer d.close()
	if err := d.deploy(); err != nil {
		return err
	}
	step("Starting ipvs-proxy on the node (it watches the API server and programs IPVS)")
	start := time.Now()
	daemon, err := guest.StartDaemon("ipvs-proxy")
	if err != nil {
		return err
	}
	defer daemon.Kill() //nolint:errcheck // a no-op after Stop
	if err := daemon.WaitSynced(time.Minute); err != nil {
		return errors.Join(err, errors.New(daemon.LogTail(20)))
	}
	fmt.Printf("   First sync done %v after start\n", time.Since(start).Round(time.Millisecond))
	show("ipvsadm", "-Ln")
	for _, step := range []func() error{d.spread, d.drain, d.remove, metrics} {
		if err := step(); err != nil {
			return errors.Join(err, errors.New(guest.Dump()))
		}
	}
	step("Stopping ipvs-proxy (SIGTERM leaves the kernel state: traffic keeps flowing), then ipvs-proxy --cleanup")
	if err := daemon.Stop(10 * time.Second); err != nil {
		return err
	}
	if out, err := guest.Cleanup(); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	show("ipvsadm", "-Ln")
	return nil
}

// deploy creates the backends, the client, the Service and its slice.
func (d *demo) deploy() error {
	step("Creating three backends web-1..3 (network namespaces, each serving its name) and a client")
	for i := 1; i <= 3; i++ {
		p, err := guest.StartPod(fmt.Sprintf("web-%d", i), i)
		if err != nil {
			return err
		}
		d.pods = append(d.pods, p)
		fmt.Printf("   %s at %s:%d\n", p.Name, p.Addr(false), guest.BackendPort)
	}
	var err error
	if d.client, err = guest.NewNetns("client", 200); err != nil {
		return err
	}
	fmt.Printf("   client at %s, outside the cluster\n", d.client.IPv4)
	step("Creating Service demo/web (NodePort) and its EndpointSlice through the API server")
	if err := d.cluster.EnsureNode(d.ctx); err != nil {
		return err
	}
	if err := d.cluster.CreateNamespace(d.ctx, ns); err != nil {
		return err
	}
	_ = d.cluster.DeleteServices(d.ctx, ns)
	d.svc, err = d.cluster.CreateService(d.ctx, &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: v1.ServiceSpec{Type: v1.ServiceTypeNodePort, Ports: []v1.ServicePort{{Name: "http", Port: 80,
			Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(guest.BackendPort)}}},
	})
	if err != nil {
		return err
	}
	d.vip = netip.AddrPortFrom(netip.MustParseAddr(d.svc.Spec.ClusterIP), 80)
	fmt.Printf("   cluster IP %s, node port %d\n", d.vip, d.svc.Spec.Ports[0].NodePort)
	return d.writeSlice(nil)
}

// writeSlice writes the slice with every pod ready, except those in mut.
func (d *demo) writeSlice(mut map[string]func(*discovery.Endpoint)) error {
	var eps []discovery.Endpoint
	for _, p := range d.pods {
		m, listed := mut[p.Name]
		if listed && m == nil {
			continue // removed
		}
		muts := []func(*discovery.Endpoint){k8stest.OnNode(guest.NodeName)}
		if m != nil {
			muts = append(muts, m)
		}
		eps = append(eps, k8stest.Endpoint(p.Addr(false).String(), muts...))
	}
	sl := k8stest.Slice(ns, "web", "web-abcde", eps, func(sl *discovery.EndpointSlice) {
		sl.Ports = []discovery.EndpointPort{{Name: new("http"), Port: new(int32(guest.BackendPort)), Protocol: new(v1.ProtocolTCP)}}
	})
	return d.cluster.ApplySlice(d.ctx, sl)
}

// spread shows the traffic spreading over the backends.
func (d *demo) spread() error {
	v4, _ := guest.NodeIPs()
	for _, addr := range []netip.AddrPort{d.vip, netip.AddrPortFrom(v4, uint16(d.svc.Spec.Ports[0].NodePort))} {
		step(fmt.Sprintf("30 connections from the client to %s", addr))
		got, err := d.client.Spread(addr, 30)
		if err != nil {
			return err
		}
		bars(got)
	}
	return nil
}

// drain holds a connection to web-2 and marks it terminating.
func (d *demo) drain() error {
	step("Holding a connection open to web-2, then marking web-2 terminating (its pod is shutting down)")
	held, err := d.holdTo("web-2")
	if err != nil {
		return err
	}
	if err := d.writeSlice(map[string]func(*discovery.Endpoint){"web-2": k8stest.Terminating(true)}); err != nil {
		return err
	}
	took, err := guest.WaitWeights(d.vip, "tcp", guest.WeightsOf(map[netip.Addr]int{
		d.pods[0].Addr(false): 1, d.pods[1].Addr(false): 0, d.pods[2].Addr(false): 1}), 20*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("   web-2 went to weight 0 after %v: new connections avoid it, open ones continue\n", took.Round(time.Millisecond))
	show("ipvsadm", "-Ln", "-t", d.vip.String())
	got, err := d.client.Spread(d.vip, 30)
	if err != nil {
		return err
	}
	fmt.Println("   30 new connections:")
	bars(got)
	name, err := held.Ask(5 * time.Second)
	fmt.Printf("   the held connection still answers: %q (err %v)\n", name, err)
	d.held = held
	return err
}

// remove deletes web-2's endpoint; the held connection gets a reset.
func (d *demo) remove() error {
	step("Removing web-2's endpoint (its pod is gone)")
	if err := d.writeSlice(map[string]func(*discovery.Endpoint){"web-2": nil}); err != nil {
		return err
	}
	took, err := guest.WaitWeights(d.vip, "tcp", guest.WeightsOf(map[netip.Addr]int{
		d.pods[0].Addr(false): 1, d.pods[2].Addr(false): 1}), 20*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("   web-2's real server was deleted %v later\n", took.Round(time.Millisecond))
	start := time.Now()
	_, err = d.held.Ask(30 * time.Second)
	fmt.Printf("   the held connection's next request failed after %v: %v\n", time.Since(start).Round(time.Millisecond), err)
	fmt.Println("   (net.ipv4.vs.expire_nodest_conn=1: a reset, not a connection hanging for minutes)")
	if err == nil {
		return errors.New("the held connection to a removed backend still answered")
	}
	return nil
}

// holdTo opens connections until one reaches backend want.
func (d *demo) holdTo(want string) (*guest.Conn, error) {
	for range 10 {
		c, err := d.client.Dial(d.vip)
		if err != nil {
			return nil, err
		}
		if name, err := c.Ask(guest.DialTimeout); err == nil && name == want {
			return c, nil
		}
		c.Close()
	}
	return nil, fmt.Errorf("no connection reached %s", want)
}

// metrics prints a few of the daemon's metrics.
func metrics() error {
	step("A few metrics (http://127.0.0.1:10249/metrics), after the next periodic full sync")
	// The server gauges are refreshed by full syncs (every 10s here).
	full := `ipvs_proxy_syncs_total{result="ok",type="full"}`
	m, err := guest.ScrapeMetrics()
	if err != nil {
		return err
	}
	before := m[full]
	err = guest.Eventually(20*time.Second, 200*time.Millisecond, func() (bool, string) {
		m, err = guest.ScrapeMetrics()
		return err == nil && m[full] > before, fmt.Sprint(err)
	})
	if err != nil {
		return err
	}
	var names []string
	for k := range m {
		for _, prefix := range []string{"ipvs_proxy_virtual_servers", "ipvs_proxy_real_servers", "ipvs_proxy_kernel_writes_total",
			"ipvs_proxy_syncs_total", "ipvs_proxy_drains", "kubeproxy_sync_proxy_rules_duration_seconds_count",
			"kubeproxy_sync_proxy_rules_endpoint_changes_total"} {
			if strings.HasPrefix(k, prefix) {
				names = append(names, k)
			}
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("   %-70s %v\n", n, m[n])
	}
	return nil
}

// bars prints the counts as a bar chart.
func bars(c guest.Counts) {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("   %-6s %3d %s\n", n, c[n], strings.Repeat("#", c[n]))
	}
}

// show runs a command and prints its output, indented.
func show(name string, args ...string) {
	out, err := guest.Run(name, args...)
	fmt.Printf("   $ %s %s\n", name, strings.Join(args, " "))
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		fmt.Printf("   %s\n", l)
	}
	if err != nil {
		fmt.Printf("   (%v)\n", err)
	}
}

// close removes the namespaces and the API objects.
func (d *demo) close() {
	if d.held != nil {
		d.held.Close()
	}
	for _, p := range d.pods {
		_ = p.Close()
	}
	if d.client != nil {
		_ = d.client.Close()
	}
	_ = d.cluster.DeleteServices(d.ctx, ns)
}
