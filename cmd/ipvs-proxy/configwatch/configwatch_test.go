package configwatch_test

import (
	"os"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch/configwatchtest"
)

const (
	loaded  = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"
	edited  = loaded + "ipvs:\n  strictARP: true\n"
	edited2 = loaded + "ipvs:\n  strictARP: false\n"
)

// TestPoll follows a ConfigMap volume through kubelet-style updates: only
// a new content is a change, reported once; the same bytes published again
// and an unreadable file are not.
func TestPoll(t *testing.T) {
	type step struct {
		name    string
		do      func(v *configwatchtest.Volume)
		want    configwatch.Change
		wantErr bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "a ..data swap to new content is a change, reported once", steps: []step{
			{name: "nothing done", do: func(*configwatchtest.Volume) {}, want: configwatch.Unchanged},
			{name: "edited", do: func(v *configwatchtest.Volume) { v.Update(edited) }, want: configwatch.Changed},
			{name: "polled again", do: func(*configwatchtest.Volume) {}, want: configwatch.Unchanged},
			{name: "edited again", do: func(v *configwatchtest.Volume) { v.Update(edited2) }, want: configwatch.Changed},
		}},
		{name: "the same content published again is no change", steps: []step{
			{name: "republished", do: func(v *configwatchtest.Volume) { v.Update(loaded) }, want: configwatch.Unchanged},
			{name: "republished twice", do: func(v *configwatchtest.Volume) { v.Update(loaded) }, want: configwatch.Unchanged},
		}},
		{name: "an edit reverted before the poll is no change", steps: []step{
			{name: "edited and reverted", do: func(v *configwatchtest.Volume) { v.Update(edited); v.Update(loaded) }, want: configwatch.Unchanged},
		}},
		{name: "edited, then back to the loaded content, then edited again", steps: []step{
			{name: "edited", do: func(v *configwatchtest.Volume) { v.Update(edited) }, want: configwatch.Changed},
			{name: "reverted", do: func(v *configwatchtest.Volume) { v.Update(loaded) }, want: configwatch.Unchanged},
			{name: "edited again", do: func(v *configwatchtest.Volume) { v.Update(edited) }, want: configwatch.Changed},
		}},
		{name: "a file written in place is a change", steps: []step{
			{name: "written", do: func(v *configwatchtest.Volume) {
				if err := os.WriteFile(v.Path(), []byte(edited), 0o644); err != nil {
					t.Fatal(err)
				}
			}, want: configwatch.Changed},
		}},
		{name: "a deleted file is an error, not a change", steps: []step{
			{name: "deleted", do: func(v *configwatchtest.Volume) { v.Delete() }, want: configwatch.Unchanged, wantErr: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := configwatchtest.NewVolume(t, loaded)
			w := configwatch.New(v.Path(), configwatch.SumOf([]byte(loaded)))
			for _, s := range tc.steps {
				s.do(v)
				got, err := w.Poll()
				if (err != nil) != s.wantErr {
					t.Fatalf("%s: Poll error = %v, want error %v", s.name, err, s.wantErr)
				}
				if got != s.want {
					t.Fatalf("%s: Poll = %v, want %v", s.name, got, s.want)
				}
			}
		})
	}
}
