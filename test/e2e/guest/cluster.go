package guest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is the API server, seen from the guest.
type Cluster struct {
	Client kubernetes.Interface
}

// Connect builds a client from $E2E_KUBECONFIG.
func Connect() (*Cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(EnvKubeconfig))
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Cluster{Client: c}, nil
}

// EnsureNode creates or updates the Node the daemon runs as, with the VM's
// addresses as InternalIPs.
func (c *Cluster) EnsureNode(ctx context.Context) error {
	v4, v6 := NodeIPs()
	nodes := c.Client.CoreV1().Nodes()
	n, err := nodes.Get(ctx, NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n, err = nodes.Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName,
			Labels: map[string]string{v1.LabelHostname: NodeName}}}, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("getting node %s: %w", NodeName, err)
	}
	n.Status.Addresses = []v1.NodeAddress{
		{Type: v1.NodeInternalIP, Address: v4.String()},
		{Type: v1.NodeInternalIP, Address: v6.String()},
		{Type: v1.NodeHostName, Address: NodeName},
	}
	if _, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating node %s: %w", NodeName, err)
	}
	return nil
}

// CreateNamespace creates namespace ns; one that exists is fine.
func (c *Cluster) CreateNamespace(ctx context.Context, ns string) error {
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return nil
}

// CreateService creates svc, letting the API server allocate its cluster IPs
// and node ports unless set, then writes its load-balancer status, if any.
// It returns the service as stored.
func (c *Cluster) CreateService(ctx context.Context, svc *v1.Service) (*v1.Service, error) {
	status := svc.Status
	api := c.Client.CoreV1().Services(svc.Namespace)
	out, err := api.Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	if len(status.LoadBalancer.Ingress) == 0 {
		return out, nil
	}
	out.Status = status
	if out, err = api.UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("setting the status of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return out, nil
}

// UpdateService applies mut to the stored service and writes it back.
func (c *Cluster) UpdateService(ctx context.Context, ns, name string, mut func(*v1.Service)) (*v1.Service, error) {
	api := c.Client.CoreV1().Services(ns)
	svc, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	mut(svc)
	return api.Update(ctx, svc, metav1.UpdateOptions{})
}

// ApplySlice creates the EndpointSlice or replaces the stored one.
func (c *Cluster) ApplySlice(ctx context.Context, sl *discovery.EndpointSlice) error {
	api := c.Client.DiscoveryV1().EndpointSlices(sl.Namespace)
	cur, err := api.Get(ctx, sl.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		sl.ResourceVersion = ""
		_, err = api.Create(ctx, sl, metav1.CreateOptions{})
	case err == nil:
		sl.ResourceVersion = cur.ResourceVersion
		_, err = api.Update(ctx, sl, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("applying EndpointSlice %s/%s: %w", sl.Namespace, sl.Name, err)
	}
	return nil
}

// DeleteServices deletes every Service and EndpointSlice in namespace ns, so
// that later scenarios' daemons do not program them.
func (c *Cluster) DeleteServices(ctx context.Context, ns string) error {
	all := metav1.ListOptions{}
	err := c.Client.DiscoveryV1().EndpointSlices(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all)
	svcs, lerr := c.Client.CoreV1().Services(ns).List(ctx, all)
	err = errors.Join(err, lerr)
	if lerr == nil {
		for _, s := range svcs.Items {
			err = errors.Join(err, c.Client.CoreV1().Services(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}))
		}
	}
	return err
}

// ClusterIPOf returns the service's cluster IP of a family.
func ClusterIPOf(svc *v1.Service, v6 bool) (netip.Addr, error) {
	for _, s := range svc.Spec.ClusterIPs {
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() == v6 {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("service %s/%s has no cluster IP of family v6=%v: %v", svc.Namespace, svc.Name, v6, svc.Spec.ClusterIPs)
}
