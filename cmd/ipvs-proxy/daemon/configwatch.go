package daemon

import (
	"context"
	"time"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch"
)

// DefaultConfigPollInterval is how often the --config file is read back.
// The kubelet refreshes a ConfigMap volume about once a minute, so a few
// seconds add little to the delay, and reading a small file costs nothing.
const DefaultConfigPollInterval = 2 * time.Second

// ConfigWatch makes the daemon exit when its --config file changes, so that
// the DaemonSet restarts it with the new settings, as kube-proxy does.
type ConfigWatch struct {
	// Watcher compares the file with the content the daemon loaded; nil
	// (no --config) watches nothing.
	Watcher *configwatch.Watcher
	// Interval is how often the file is read (0: DefaultConfigPollInterval).
	Interval time.Duration
	// Valid checks the changed file as the daemon would at start. A file it
	// would refuse does not stop the daemon: the error is logged, and the
	// next change of the file is checked again. nil accepts every change.
	Valid func() error
}

// watchConfig polls the configuration file until ctx is done and returns
// a channel closed once the file holds new, valid content.
func (d *daemon) watchConfig(ctx context.Context) <-chan struct{} {
	changed := make(chan struct{})
	w := d.cfg.ConfigWatch
	if w.Watcher == nil {
		return changed
	}
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultConfigPollInterval
	}
	go func() {
		logger := klog.FromContext(ctx).WithValues("file", w.Watcher.Path())
		ticker := d.clock.NewTicker(interval)
		defer ticker.Stop()
		var lastErr string
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C():
			}
			change, err := w.Watcher.Poll()
			if err != nil {
				if err.Error() != lastErr { // once per problem, not per poll
					logger.Error(err, "Failed to read the configuration file; running on with the loaded one")
				}
				lastErr = err.Error()
				continue
			}
			lastErr = ""
			if change != configwatch.Changed {
				continue
			}
			if w.Valid != nil {
				if err := w.Valid(); err != nil {
					logger.Error(err, "Ignored the changed configuration file, which the daemon would refuse; running on with the loaded one")
					continue
				}
			}
			logger.Info("Configuration file changed; exiting so that the new settings take effect on restart")
			close(changed)
			return
		}
	}()
	return changed
}
