package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	networking "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Populate makes services [0, n) and their slices exist, with workers
// concurrent writers. Objects that exist are left as they are; services at
// n and above must not exist (sizes only grow within one API server).
//
// With etcdURL set, the missing services, slices and IPAddress objects are
// written straight into etcd (LoadEtcd), as kube-apiserver creates
// services in quadratic time; Populate then waits until the API server
// lists them all.
func Populate(ctx context.Context, c kubernetes.Interface, etcdURL string, n, workers int) error {
	if n > MaxServices {
		return fmt.Errorf("%d services: the address plan has room for %d", n, MaxServices)
	}
	_, err := c.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", Namespace, err)
	}
	// Existing services are skipped up front: creating one again fails on
	// its cluster IP ("already allocated") before its name is checked.
	svcs, err := c.CoreV1().Services(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing services: %w", err)
	}
	exists := make(map[string]bool, len(svcs.Items))
	var beyond []int
	for _, s := range svcs.Items {
		exists[s.Name] = true
		ip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if i, ok := ServiceIndex(ip); err == nil && ok && i >= n {
			beyond = append(beyond, i)
		}
	}
	// A run that stopped half way through its burst leaves services beyond
	// the size; an etcd seed may hold them too.
	for _, i := range beyond {
		if err := DeleteServices(ctx, c, i, i+1, 1); err != nil {
			return err
		}
	}
	skip := func(i int) bool { return exists[ServiceName(i)] }
	if etcdURL == "" {
		return CreateServices(ctx, c, 0, n, workers, skip)
	}
	if n > inServiceCIDR {
		if err := ensureOverflowCIDR(ctx, c); err != nil {
			return err
		}
	}
	if err := LoadEtcd(ctx, etcdURL, 0, n, workers, skip); err != nil {
		return err
	}
	return awaitListed(ctx, c, n)
}

// awaitListed waits until the API server lists n benchmark services and
// as many slices.
func awaitListed(ctx context.Context, c kubernetes.Interface, n int) error {
	count := func(list func() (*metav1.ListMeta, int, error)) (int, error) {
		meta, items, err := list()
		if err != nil || meta.RemainingItemCount == nil {
			return items, err
		}
		return items + int(*meta.RemainingItemCount), nil
	}
	one := metav1.ListOptions{Limit: 1}
	for {
		svcs, err := count(func() (*metav1.ListMeta, int, error) {
			l, err := c.CoreV1().Services(Namespace).List(ctx, one)
			if err != nil {
				return nil, 0, err
			}
			return &l.ListMeta, len(l.Items), nil
		})
		if err != nil {
			return err
		}
		slices, err := count(func() (*metav1.ListMeta, int, error) {
			l, err := c.DiscoveryV1().EndpointSlices(Namespace).List(ctx, one)
			if err != nil {
				return nil, 0, err
			}
			return &l.ListMeta, len(l.Items), nil
		})
		if err != nil {
			return err
		}
		if svcs >= n && slices >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the API server lists %d services and %d slices, want %d: %w", svcs, slices, n, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// CreateServices creates services [from, to) and their slices, with
// workers concurrent writers, skipping those skip reports as existing. It
// creates OverflowCIDR first when the range needs it.
func CreateServices(ctx context.Context, c kubernetes.Interface, from, to, workers int, skip func(int) bool) error {
	if to > MaxServices {
		return fmt.Errorf("%d services: the address plan has room for %d", to, MaxServices)
	}
	if to > inServiceCIDR {
		if err := ensureOverflowCIDR(ctx, c); err != nil {
			return err
		}
	}
	return parallel(ctx, to-from, workers, func(ctx context.Context, k int) error {
		i := from + k
		if skip != nil && skip(i) {
			return nil
		}
		if err := createService(ctx, c, i); err != nil {
			return err
		}
		_, err := c.DiscoveryV1().EndpointSlices(Namespace).Create(ctx, Slice(i), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating the slice of service %d: %w", i, err)
		}
		return nil
	})
}

// createService creates service i. A cluster IP in OverflowCIDR is refused
// until the API server's allocator has seen the new ServiceCIDR, so such a
// create is retried for up to a minute.
func createService(ctx context.Context, c kubernetes.Interface, i int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := c.CoreV1().Services(Namespace).Create(ctx, Service(i), metav1.CreateOptions{})
		switch {
		case err == nil || apierrors.IsAlreadyExists(err):
			return nil
		case i >= inServiceCIDR && apierrors.IsInvalid(err) && time.Now().Before(deadline):
			time.Sleep(time.Second)
		default:
			return fmt.Errorf("creating service %d: %w", i, err)
		}
	}
}

// ensureOverflowCIDR creates the ServiceCIDR holding the cluster IPs of
// services beyond the default service CIDR. Without kube-controller-manager
// to set its Ready condition, the API server takes it as ready.
func ensureOverflowCIDR(ctx context.Context, c kubernetes.Interface) error {
	cidr := &networking.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "bench-overflow"},
		Spec: networking.ServiceCIDRSpec{CIDRs: []string{OverflowCIDR}}}
	_, err := c.NetworkingV1().ServiceCIDRs().Create(ctx, cidr, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ServiceCIDR %s: %w", OverflowCIDR, err)
	}
	return nil
}

// DeleteServices deletes services [from, to) and their slices.
func DeleteServices(ctx context.Context, c kubernetes.Interface, from, to, workers int) error {
	return parallel(ctx, to-from, workers, func(ctx context.Context, k int) error {
		i := from + k
		err := c.CoreV1().Services(Namespace).Delete(ctx, ServiceName(i), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting service %d: %w", i, err)
		}
		err = c.DiscoveryV1().EndpointSlices(Namespace).Delete(ctx, Slice(i).Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting the slice of service %d: %w", i, err)
		}
		return nil
	})
}

// Reset gives the slices a change phase of changes (half adds, half
// removes) over n services may touch their own endpoints back, in case a
// run ended half way.
func Reset(ctx context.Context, c kubernetes.Interface, n, changes, workers int) error {
	half := min(changes/2, n, MaxChanged)
	return parallel(ctx, half, workers, func(ctx context.Context, j int) error {
		i := Changed(j, half, n)
		patch, err := EndpointsPatch(i)
		if err != nil {
			return err
		}
		_, err = c.DiscoveryV1().EndpointSlices(Namespace).Patch(ctx, Slice(i).Name, types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	})
}

// parallel calls f for 0..n-1 from workers goroutines and returns the
// errors joined (at most ten of them).
func parallel(ctx context.Context, n, workers int, f func(context.Context, int) error) error {
	next := make(chan int)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					mu.Lock()
					if len(errs) < 10 {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return errors.Join(append(errs, ctx.Err())...)
}
