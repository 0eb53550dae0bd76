package daemon

import (
	"context"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
)

// problemEvents turns Build's problems into Warning events on the objects
// and log lines. A problem is reported when it first appears for an object,
// not on every sync; the event broadcaster's spam filter bounds the rest.
type problemEvents struct {
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	metrics     *metrics.Metrics

	mu   sync.Mutex
	seen map[string]string // object -> its last reported messages
}

func newProblemEvents(ctx context.Context, client kubeapi.Interface, node string, m *metrics.Metrics) *problemEvents {
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(client.Events())
	return &problemEvents{broadcaster: b, metrics: m, seen: map[string]string{},
		recorder: b.NewRecorder(kubeapi.Scheme, v1.EventSource{Component: "ipvs-proxy", Host: node})}
}

func (p *problemEvents) stop() { p.broadcaster.Shutdown() }

// report emits the problems not reported before for their object.
func (p *problemEvents) report(ctx context.Context, problems []proxier.Problem) {
	if len(problems) == 0 {
		return
	}
	p.metrics.ServiceProblems(len(problems))
	byObject := map[string][]proxier.Problem{}
	for _, pr := range problems {
		k := pr.Kind + "/" + pr.Namespace + "/" + pr.Name
		byObject[k] = append(byObject[k], pr)
	}
	logger := klog.FromContext(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, prs := range byObject {
		msgs := make([]string, len(prs))
		for i, pr := range prs {
			msgs[i] = pr.Message
		}
		joined := strings.Join(msgs, "; ")
		if p.seen[k] == joined {
			continue
		}
		p.seen[k] = joined
		ref := &v1.ObjectReference{Kind: prs[0].Kind, Namespace: prs[0].Namespace, Name: prs[0].Name}
		if prs[0].Kind == "Service" {
			ref.APIVersion = "v1"
		} else {
			ref.APIVersion = "discovery.k8s.io/v1"
		}
		p.recorder.Event(ref, v1.EventTypeWarning, "InvalidForProxy", joined)
		logger.Info("Skipped invalid parts of an object", "kind", prs[0].Kind, "object", klog.KRef(prs[0].Namespace, prs[0].Name), "problems", joined)
	}
}
