package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// problemEvents turns the engine's problems into Warning events on the
// objects and log lines. A problem is reported when it first appears for
// an object, or when the object's problems change, not on every sync.
//
// Every node's proxy sees the same invalid Service: the events carry
// nothing of the node (no source host) and are named after what they say
// (sharedEvents), so a cluster of 1,000 nodes writes one Event per problem,
// not 1,000.
type problemEvents struct {
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	metrics     *metrics.Metrics

	mu sync.Mutex
	// seen holds, per service, the messages last reported for each object
	// its build found problems in. A service rebuilt without problems is
	// forgotten, so the map holds only services that have problems now.
	seen map[types.NamespacedName]map[objectRef]string
}

// objectRef names the object a problem is about.
type objectRef struct{ kind, namespace, name string }

func newProblemEvents(ctx context.Context, client kubeapi.Interface, m *metrics.Metrics) *problemEvents {
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(sharedEvents{client.Events()})
	return &problemEvents{broadcaster: b, metrics: m, seen: map[types.NamespacedName]map[objectRef]string{},
		recorder: b.NewRecorder(kubeapi.Scheme, v1.EventSource{Component: "ipvs-proxy"})}
}

func (p *problemEvents) stop() { p.broadcaster.Shutdown() }

// started emits a Normal Starting event on the Node, as kube-proxy does
// when it starts (cmd/kube-proxy/app/server.go): `kubectl describe node`
// shows the start, and the create is the request that gives client-go's
// rest_client_request_duration_seconds its first POST sample (the informers'
// watch-list streams never observe it), as kube-proxy's /metrics has.
func (p *problemEvents) started(node string) {
	ref := &v1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node, UID: types.UID(node)}
	p.recorder.Event(ref, v1.EventTypeNormal, "Starting", "Started ipvs-proxy")
}

// report emits the problems of res not reported before for their object
// and forgets the services rebuilt without problems. changed are the
// services the sync was given: a deleted one is not in res.Rebuilt when the
// engine rebuilt everything (it lists the services that exist), yet it has
// no problems any more.
func (p *problemEvents) report(ctx context.Context, res reconcile.Result, changed []types.NamespacedName) {
	if len(res.Problems) > 0 {
		p.metrics.ServiceProblems(len(res.Problems))
	}
	current := groupProblems(res.Problems)
	logger := klog.FromContext(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, name := range slices.Concat(res.Rebuilt, changed) {
		if current[name] == nil {
			delete(p.seen, name)
		}
	}
	for svc, objects := range current {
		before := p.seen[svc]
		for obj, msg := range objects {
			if before[obj] == msg {
				continue
			}
			p.recorder.Event(obj.reference(), v1.EventTypeWarning, "InvalidForProxy", msg)
			logger.Info("Skipped invalid parts of an object", "kind", obj.kind, "object", klog.KRef(obj.namespace, obj.name),
				"problems", msg)
		}
		p.seen[svc] = objects
	}
}

// objectErrors logs the kernel objects that failed in a sync and emits a
// Warning event on the Service that wants each (none for an object no
// Service names, such as an address shared by several). The engine reports
// each failure once, when it happens, so there is nothing to de-duplicate.
// The message says what the kernel said, which is the same on every node
// for the same object, so the event is shared as the others are.
func (p *problemEvents) objectErrors(ctx context.Context, errs []reconcile.ObjectError) {
	logger := klog.FromContext(ctx)
	for _, oe := range errs {
		logger.Error(oe.Err, "Kernel object failed; not retried until it changes", "object", oe.Object.String(),
			"reason", oe.Reason, "service", oe.Service)
		if oe.Service.Name == "" {
			continue
		}
		ref := objectRef{kind: "Service", namespace: oe.Service.Namespace, name: oe.Service.Name}.reference()
		p.recorder.Event(ref, v1.EventTypeWarning, "FailedToProgram",
			oe.Object.String()+": "+oe.Reason+": "+oe.Err.Error()+"; not retried until the Service changes (see docs/safety.md)")
	}
}

// groupProblems returns, per service and object, the messages of its
// problems sorted and joined: the same problems give the same message on
// every node, whatever order the build found them in.
func groupProblems(problems []proxier.Problem) map[types.NamespacedName]map[objectRef]string {
	msgs := map[types.NamespacedName]map[objectRef][]string{}
	for _, pr := range problems {
		if msgs[pr.Service] == nil {
			msgs[pr.Service] = map[objectRef][]string{}
		}
		obj := objectRef{kind: pr.Kind, namespace: pr.Namespace, name: pr.Name}
		msgs[pr.Service][obj] = append(msgs[pr.Service][obj], pr.Message)
	}
	out := make(map[types.NamespacedName]map[objectRef]string, len(msgs))
	for svc, objects := range msgs {
		out[svc] = make(map[objectRef]string, len(objects))
		for obj, m := range objects {
			slices.Sort(m)
			out[svc][obj] = strings.Join(slices.Compact(m), "; ")
		}
	}
	return out
}

func (o objectRef) reference() *v1.ObjectReference {
	ref := &v1.ObjectReference{Kind: o.kind, Namespace: o.namespace, Name: o.name, APIVersion: "discovery.k8s.io/v1"}
	if o.kind == "Service" {
		ref.APIVersion = "v1"
	}
	return ref
}

// sharedEvents is the event sink: it names every event after its involved
// object, type, reason and message, never after the node or the time
// (client-go names it "<object>.<nanoseconds>"), so the proxies of all nodes
// write the same Event object. The first create wins; the API server
// answers AlreadyExists to the others, which client-go's recorder drops
// without retrying and logs at V(5) only (record.recordEvent). A repeat is
// patched (count, last timestamp) onto that shared Event whichever node
// created it; if it is gone the recorder creates it again. A problem whose
// message differs per node simply gets its own Event.
type sharedEvents struct{ sink record.EventSink }

var _ record.EventSink = sharedEvents{}

func (s sharedEvents) Create(e *v1.Event) (*v1.Event, error) { return s.sink.Create(renamed(e)) }
func (s sharedEvents) Update(e *v1.Event) (*v1.Event, error) { return s.sink.Update(renamed(e)) }
func (s sharedEvents) Patch(e *v1.Event, data []byte) (*v1.Event, error) {
	return s.sink.Patch(renamed(e), data)
}

func renamed(e *v1.Event) *v1.Event {
	c := *e
	c.Name = eventName(e)
	return &c
}

// eventPrefixMax keeps "<object>.<16 hex digits>" within the 253 characters
// of a DNS subdomain.
const eventPrefixMax = 253 - 1 - 16

// eventName is "<object name>.<hash>", the hash taken over what the event
// says. An object name is a valid DNS subdomain, and so is the result.
func eventName(e *v1.Event) string {
	h := sha256.New()
	o := e.InvolvedObject
	for _, f := range []string{o.APIVersion, o.Kind, o.Namespace, o.Name, e.Type, e.Reason, e.Message} {
		h.Write([]byte(f))
		h.Write([]byte{0}) // separator: fields cannot run into each other
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	prefix := o.Name
	if len(prefix) > eventPrefixMax {
		prefix = strings.TrimRight(prefix[:eventPrefixMax], ".-")
	}
	if prefix == "" {
		return sum
	}
	return prefix + "." + sum
}
