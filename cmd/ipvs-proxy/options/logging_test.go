package options

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLoggingFormat: kube-proxy takes --logging-format and logging.format
// (component-base logsapi: text, or json when linked). ipvs-proxy writes
// text only: text is accepted, json is refused at start rather than
// ignored, and the other logging fields stay warnings.
func TestLoggingFormat(t *testing.T) {
	tests := []struct {
		name         string
		config       string
		args         []string
		wantErr      string
		wantWarnings []string
	}{
		{name: "text flag", args: []string{"--logging-format=text"}},
		{name: "json flag refused", args: []string{"--logging-format=json"},
			wantErr: `unsupported log format "json" (--logging-format, logging.format): ipvs-proxy writes only "text"`},
		{name: "json in the file refused", config: header + "logging: {format: json}\n", wantErr: `unsupported log format "json"`},
		{name: "text in the file", config: header + "logging: {format: text}\n"},
		{name: "the flag overrides the file", config: header + "logging: {format: json}\n", args: []string{"--logging-format=text"}},
		{name: "kubeadm's logging block warns about nothing",
			config: header + "logging:\n  flushFrequency: 0\n  options:\n    json:\n      infoBufferSize: \"0\"\n    text:\n      infoBufferSize: \"0\"\n  verbosity: 0\n"},
		{name: "verbosity in the file is a warning", config: header + "logging: {verbosity: 4}\n",
			wantWarnings: []string{"config: field logging.verbosity is not supported; ignored"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, warnings, err := completeDaemon(t, configArgs(t, "", tc.config, tc.args)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Complete error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
