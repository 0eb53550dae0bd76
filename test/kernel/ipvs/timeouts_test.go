//go:build vmtest

package ipvs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
)

// TestTimeouts sets each timeout alone and checks the others keep their
// values (0 means "keep"), then restores the original values.
func TestTimeouts(t *testing.T) {
	orig, err := kernel.Timeouts()
	if err != nil {
		t.Fatalf("Timeouts: %v", err)
	}
	t.Logf("Kernel timeouts: %+v", orig)
	if orig.TCP <= 0 || orig.TCPFin <= 0 || orig.UDP <= 0 {
		t.Errorf("Timeouts() = %+v, want all positive", orig)
	}
	t.Cleanup(func() {
		if err := kernel.SetTimeouts(orig); err != nil {
			t.Errorf("restoring timeouts: %v", err)
		}
	})
	want := orig
	for _, step := range []struct {
		set  ipvs.Timeouts
		edit func(*ipvs.Timeouts)
	}{
		{ipvs.Timeouts{TCP: 1234 * time.Second}, func(w *ipvs.Timeouts) { w.TCP = 1234 * time.Second }},
		{ipvs.Timeouts{TCPFin: 7 * time.Second}, func(w *ipvs.Timeouts) { w.TCPFin = 7 * time.Second }},
		{ipvs.Timeouts{UDP: 42 * time.Second}, func(w *ipvs.Timeouts) { w.UDP = 42 * time.Second }},
		{ipvs.Timeouts{}, func(*ipvs.Timeouts) {}},
	} {
		if err := kernel.SetTimeouts(step.set); err != nil {
			t.Fatalf("SetTimeouts(%+v): %v", step.set, err)
		}
		step.edit(&want)
		got, err := kernel.Timeouts()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("after SetTimeouts(%+v): Timeouts() = %+v, want %+v", step.set, got, want)
		}
	}
	if err := kernel.SetTimeouts(ipvs.Timeouts{UDP: 10 * time.Millisecond}); !errors.Is(err, ipvs.ErrInvalid) {
		t.Errorf("sub-second timeout: err = %v, want ErrInvalid", err)
	}
}
