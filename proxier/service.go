package proxier

import (
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// BuildService builds the desired state one Service contributes. It returns
// nil when the service is not handled (headless, ExternalName, another
// proxy's). Implementation in progress.
func BuildService(svc *v1.Service, slices []*discovery.EndpointSlice, node Node, cfg Config) (*ServiceState, []Problem) {
	return nil, nil
}

func groupSlices(services []*v1.Service, slices []*discovery.EndpointSlice) (map[types.NamespacedName][]*discovery.EndpointSlice, []Problem) {
	return nil, nil
}
