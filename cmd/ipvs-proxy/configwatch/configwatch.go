// Package configwatch tells the daemon when its --config file has changed,
// so that it can exit and be restarted with the new settings, as kube-proxy
// does (cmd/kube-proxy/app/options.go: initWatcher, eventHandler).
//
// The file is polled: every poll reads it and compares a SHA-256 of its
// bytes with the content the daemon started from.
//
//	options.Load (Sum) ─► Watcher ─► Poll every interval ─► Changed ─► daemon: lame duck, exit 0
//
// Polling the content rather than watching inotify events is deliberate.
// A ConfigMap volume is updated by swapping the ..data symlink of the
// volume's directory and deleting the old directory: the watched file is
// never written or renamed, it disappears. kube-proxy v1.37.2 watches the
// file with fsnotify and exits only on Write or Rename events, so it misses
// exactly this update (kubernetes#132877). Reading a file of a few kB every
// few seconds costs nothing next to a sync, needs no dependency (fsnotify
// is not in ipvs-proxy's module graph), follows any symlink layout, and
// tells a real change of content from a rewrite of the same bytes, which
// must not restart a node's proxy.
package configwatch

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
)

// Sum is the SHA-256 of a configuration file's content.
type Sum [sha256.Size]byte

// SumOf returns the Sum of data.
func SumOf(data []byte) Sum { return sha256.Sum256(data) }

// Watcher compares a file's content with the content the daemon loaded.
type Watcher struct {
	path   string
	loaded Sum
	// seen is the content last read (equal to loaded until the file
	// changes), so that a changed file is reported once per new content.
	seen Sum
}

// New returns a Watcher of the file at path whose loaded content had the
// Sum loaded.
func New(path string, loaded Sum) *Watcher {
	return &Watcher{path: path, loaded: loaded, seen: loaded}
}

// Change is what one Poll found.
type Change int

const (
	// Unchanged: the file holds the loaded content, or the new content was
	// already reported.
	Unchanged Change = iota
	// Changed: the file holds content other than the loaded one, read for
	// the first time.
	Changed
)

// Poll reads the file once. It returns Changed the first time it reads a
// content other than the loaded one (and Unchanged on the next polls while
// that content stays), Unchanged when the file holds the loaded content
// again. A file that cannot be read (being replaced, deleted with its
// ConfigMap) returns the error and counts as unchanged: restarting would
// only fail to read it.
func (w *Watcher) Poll() (Change, error) {
	data, err := os.ReadFile(w.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Unchanged, fmt.Errorf("configuration file %s is gone: %w", w.path, err)
		}
		return Unchanged, fmt.Errorf("reading configuration file %s: %w", w.path, err)
	}
	sum := SumOf(data)
	if sum == w.seen {
		return Unchanged, nil
	}
	w.seen = sum
	if sum == w.loaded {
		return Unchanged, nil
	}
	return Changed, nil
}

// Path returns the watched file's path.
func (w *Watcher) Path() string { return w.path }
