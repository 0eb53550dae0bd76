package parity

import (
	"context"
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Load writes the cluster into the API server: the Node (labels and
// addresses), the namespace, the services with their load-balancer
// statuses, and the slices. It returns the World as the API server stored
// it, every namespace's services included (the kubernetes Service).
func Load(ctx context.Context, c kubernetes.Interface, cl *Cluster) (*World, error) {
	if err := applyNode(ctx, c, cl.Node); err != nil {
		return nil, err
	}
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cl.Namespace}}
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating namespace %s: %w", cl.Namespace, err)
	}
	for _, s := range cl.Services {
		created, err := c.CoreV1().Services(s.Namespace).Create(ctx, s.DeepCopy(), metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating service %s: %w", key(s), err)
		}
		if st, ok := cl.Statuses[s.Name]; ok {
			created.Status = st
			if _, err := c.CoreV1().Services(s.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
				return nil, fmt.Errorf("writing the status of service %s: %w", key(s), err)
			}
		}
	}
	for _, sl := range cl.Slices {
		if _, err := c.DiscoveryV1().EndpointSlices(sl.Namespace).Create(ctx, sl.DeepCopy(), metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating EndpointSlice %s/%s: %w", sl.Namespace, sl.Name, err)
		}
	}
	return stored(ctx, c, cl)
}

// stored lists what the API server holds.
func stored(ctx context.Context, c kubernetes.Interface, cl *Cluster) (*World, error) {
	w := &World{Cluster: cl}
	svcs, err := c.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	for i := range svcs.Items {
		w.Services = append(w.Services, &svcs.Items[i])
	}
	slices, err := c.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing EndpointSlices: %w", err)
	}
	for i := range slices.Items {
		w.Slices = append(w.Slices, &slices.Items[i])
	}
	return w, nil
}

// applyNode creates or updates the Node: its hostname and zone labels, and
// its InternalIP addresses.
func applyNode(ctx context.Context, c kubernetes.Interface, spec NodeSpec) error {
	nodes := c.CoreV1().Nodes()
	n, err := nodes.Get(ctx, NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n, err = nodes.Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName}}, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("getting node %s: %w", NodeName, err)
	}
	n.Labels = map[string]string{v1.LabelHostname: NodeName}
	if spec.Zone != "" {
		n.Labels[v1.LabelTopologyZone] = spec.Zone
	}
	if n, err = nodes.Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("labelling node %s: %w", NodeName, err)
	}
	n.Status.Addresses = nodeAddresses(spec.InternalIPs)
	if _, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("writing the addresses of node %s: %w", NodeName, err)
	}
	return nil
}

func nodeAddresses(ips []netip.Addr) []v1.NodeAddress {
	out := make([]v1.NodeAddress, 0, len(ips)+1)
	for _, ip := range ips {
		out = append(out, v1.NodeAddress{Type: v1.NodeInternalIP, Address: ip.String()})
	}
	return append(out, v1.NodeAddress{Type: v1.NodeHostName, Address: NodeName})
}

// Unload deletes the cluster's services and slices, so that the next
// seed's daemons do not see them.
func Unload(ctx context.Context, c kubernetes.Interface, cl *Cluster) error {
	for _, s := range cl.Services {
		err := c.CoreV1().Services(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting service %s: %w", key(s), err)
		}
	}
	err := c.DiscoveryV1().EndpointSlices(cl.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("deleting the EndpointSlices of %s: %w", cl.Namespace, err)
	}
	return nil
}
