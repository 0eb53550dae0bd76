package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	networking "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
)

// Loading objects straight into etcd. kube-apiserver v1.37.2 lists every
// IPAddress object twice for each cluster IP it allocates (the allocated
// and free gauges of pkg/registry/core/service/ipallocator), so creating
// services through it is quadratic: 11 services a second at 22,000 on the
// 2-core machine, hours for 100,000. LoadEtcd writes what the API server
// would have stored (the objects as defaulted, with their IPAddress
// objects) through etcd's JSON gateway; the API server's watch of etcd
// picks them up as it would another API server's writes. Only the
// metadata the API server adds itself differs: no managedFields (the
// daemons strip them from their caches anyway).

// storageCodec encodes objects as kube-apiserver stores them: protobuf
// with the "k8s\x00" prefix, at the storage version.
func storageCodec(gv schema.GroupVersion) runtime.Encoder {
	return scheme.Codecs.EncoderForVersion(protobuf.NewSerializer(scheme.Scheme, scheme.Scheme), gv)
}

// LoadEtcd writes services [from, to), their slices and their cluster
// IPs' IPAddress objects into etcd at etcdURL with workers writers,
// skipping those skip reports as existing.
func LoadEtcd(ctx context.Context, etcdURL string, from, to, workers int, skip func(int) bool) error {
	if to > MaxServices {
		return fmt.Errorf("%d services: the address plan has room for %d", to, MaxServices)
	}
	core, disc, netw := storageCodec(v1.SchemeGroupVersion), storageCodec(discovery.SchemeGroupVersion),
		storageCodec(networking.SchemeGroupVersion)
	created := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	client := &http.Client{Timeout: time.Minute}
	return parallel(ctx, to-from, workers, func(ctx context.Context, k int) error {
		i := from + k
		if skip != nil && skip(i) {
			return nil
		}
		svc, sl, ip := storedService(i, created), storedSlice(i, created), storedIPAddress(i, created)
		for _, o := range []struct {
			key string
			enc runtime.Encoder
			obj runtime.Object
		}{
			{"/registry/services/specs/" + Namespace + "/" + svc.Name, core, svc},
			{"/registry/endpointslices/" + Namespace + "/" + sl.Name, disc, sl},
			{"/registry/ipaddresses/" + ip.Name, netw, ip},
		} {
			var buf bytes.Buffer
			if err := o.enc.Encode(o.obj, &buf); err != nil {
				return fmt.Errorf("encoding %s: %w", o.key, err)
			}
			if err := etcdPut(ctx, client, etcdURL, o.key, buf.Bytes()); err != nil {
				return err
			}
		}
		return nil
	})
}

// etcdPut writes one key through etcd's gRPC gateway (/v3/kv/put).
func etcdPut(ctx context.Context, c *http.Client, etcdURL, key string, value []byte) error {
	body, _ := json.Marshal(map[string]string{
		"key": base64.StdEncoding.EncodeToString([]byte(key)), "value": base64.StdEncoding.EncodeToString(value)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, etcdURL+"/v3/kv/put", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("writing %s to etcd: %w", key, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("writing %s to etcd: %s: %s", key, resp.Status, msg)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// storedService is Service(i) as the API server stores it once created:
// identity and the defaults it fills in.
func storedService(i int, created metav1.Time) *v1.Service {
	s := Service(i)
	s.UID, s.CreationTimestamp = uid("5e", i), created
	s.Spec.SessionAffinity = v1.ServiceAffinityNone
	s.Spec.IPFamilyPolicy = new(v1.IPFamilyPolicySingleStack)
	s.Spec.InternalTrafficPolicy = new(v1.ServiceInternalTrafficPolicyCluster)
	for k := range s.Spec.Ports {
		if s.Spec.Ports[k].TargetPort == (intstr.IntOrString{}) {
			s.Spec.Ports[k].TargetPort = intstr.FromInt32(s.Spec.Ports[k].Port)
		}
	}
	return s
}

func storedSlice(i int, created metav1.Time) *discovery.EndpointSlice {
	s := Slice(i)
	s.UID, s.CreationTimestamp, s.Generation = uid("51", i), created, 1
	return s
}

// storedIPAddress is the IPAddress object the API server's allocator
// creates for service i's cluster IP.
func storedIPAddress(i int, created metav1.Time) *networking.IPAddress {
	return &networking.IPAddress{
		ObjectMeta: metav1.ObjectMeta{Name: ClusterIP(i).String(), UID: uid("1a", i), CreationTimestamp: created,
			Labels: map[string]string{networking.LabelIPAddressFamily: string(v1.IPv4Protocol),
				networking.LabelManagedBy: "ipallocator.k8s.io"}},
		Spec: networking.IPAddressSpec{ParentRef: &networking.ParentReference{
			Group: "", Resource: "services", Namespace: Namespace, Name: ServiceName(i)}},
	}
}

func uid(kind string, i int) types.UID {
	return types.UID(fmt.Sprintf("%s000000-0000-4000-8000-%012x", kind, i))
}
