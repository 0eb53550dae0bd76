//go:build bench

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/host"
)

// The etcd cache: creating 100,000 services and their slices through the
// API server takes the better part of an hour on the 2-core machine, so
// the API server's etcd data is kept after populating each size, named by
// the object plan's version and the number of services, and the next run
// starts from the largest that its smallest size can grow from (Populate
// only adds, and removes services beyond its size).
const etcdPlan = "plan2-"

// etcdSeed returns the cached etcd data directory with the most services,
// at most smallest, or "" for none.
func etcdSeed(t *testing.T, cache string, smallest int) string {
	if cache == "none" {
		return ""
	}
	entries, _ := os.ReadDir(cache)
	best, bestN := "", 0
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), etcdPlan))
		if err != nil || !strings.HasPrefix(e.Name(), etcdPlan) || !e.IsDir() || n > smallest || n <= bestN {
			continue
		}
		best, bestN = filepath.Join(cache, e.Name()), n
	}
	if best != "" {
		t.Logf("Starting etcd from %s (%d services)", best, bestN)
	}
	return best
}

// saveEtcd has the API server's etcd data saved once the suite stops, as
// the seed for n services, unless one exists.
func saveEtcd(t *testing.T, s *host.Suite, cache string, n int) {
	if cache == "none" {
		return
	}
	dir := filepath.Join(cache, fmt.Sprintf("%s%d", etcdPlan, n))
	if _, err := os.Stat(dir); err == nil {
		return
	}
	t.Logf("Saving etcd's data as %s when the API server stops", dir)
	s.Plane.SaveEtcdOnStop(dir)
}
