package main

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
	"github.com/ipvs-proxy/ipvs-proxy/test/parity"
)

// placeholderZone is the node's zone label while a daemon starts; the
// seed's own zone (or none) replaces it once the daemon has synced.
//
// kube-proxy v1.37.2 can miss the node's zone label for its whole life: it
// adds NodeTopologyConfig's handler to the node informer its NodeManager
// has already started, and registers the proxier with NodeTopologyConfig
// only afterwards (cmd/kube-proxy/app/server.go), so the replayed Add event
// may find no proxier yet still records the labels as seen; later events
// with the same labels are skipped (pkg/proxy/config/config.go,
// handleNodeEvent). Its zone hints are then ignored ("node is missing
// label"). A change of the label after start always reaches it. Both
// daemons get the same treatment.
const placeholderZone = "parity-placeholder"

// setZone sets the node's zone label ("" removes it) and returns the time
// just before the update.
func setZone(zone string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := guest.Connect()
	if err != nil {
		return time.Time{}, err
	}
	n, err := c.Client.CoreV1().Nodes().Get(ctx, parity.NodeName, metav1.GetOptions{})
	if err != nil {
		return time.Time{}, fmt.Errorf("getting node %s: %w", parity.NodeName, err)
	}
	if zone == "" {
		delete(n.Labels, v1.LabelTopologyZone)
	} else {
		n.Labels[v1.LabelTopologyZone] = zone
	}
	at := time.Now()
	if _, err := c.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		return time.Time{}, fmt.Errorf("labelling node %s: %w", parity.NodeName, err)
	}
	return at, nil
}
