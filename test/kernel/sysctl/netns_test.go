//go:build vmtest

package sysctl_test

import (
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// inFreshNetNS runs fn on a thread inside a new network namespace, so that
// /proc/sys/net shows (and changes) that namespace only; /proc/sys/net is
// resolved per thread.
func inFreshNetNS(t *testing.T, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("netns.New: %v", err)
	}
	defer ns.Close()
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			t.Errorf("restoring the network namespace: %v", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}
