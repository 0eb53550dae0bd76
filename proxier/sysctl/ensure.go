package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Drift is a setting whose value differed from the required one.
type Drift struct {
	Name string
	// Got is the value found; Want the value required (and written).
	Got, Want string
}

// String formats the drift as "name: got -> want".
func (d Drift) String() string { return fmt.Sprintf("%s: %q -> %q", d.Name, d.Got, d.Want) }

// Ensure reads every setting and writes those whose value differs. It
// returns the drifted settings in input order, whether or not their write
// succeeded, so the caller can count and log them. A missing optional
// setting is skipped; a missing required one, and any failed read or write,
// is reported in the joined error, which names each parameter. One failure
// does not stop the others from being applied.
func Ensure(iface Interface, settings []Setting) ([]Drift, error) {
	var drifted []Drift
	var errs []error
	for _, s := range settings {
		got, err := iface.Get(s.Name)
		if err != nil {
			if isNotExist(err) && s.Optional {
				continue
			}
			if isNotExist(err) {
				err = fmt.Errorf("required sysctl %s does not exist: %w", s.Name, err)
			}
			errs = append(errs, err)
			continue
		}
		if normalize(got) == normalize(s.Value) {
			continue
		}
		drifted = append(drifted, Drift{Name: s.Name, Got: got, Want: s.Value})
		if err := iface.Set(s.Name, s.Value); err != nil {
			errs = append(errs, err)
		}
	}
	return drifted, errors.Join(errs...)
}

// Diff returns the settings whose value differs, as Ensure would report
// them, and writes nothing: what a dry run shows. Errors are those of
// Ensure's reads.
func Diff(iface Interface, settings []Setting) ([]Drift, error) {
	var drifted []Drift
	var errs []error
	for _, s := range settings {
		got, err := iface.Get(s.Name)
		switch {
		case err != nil && isNotExist(err) && s.Optional:
		case err != nil:
			errs = append(errs, err)
		case normalize(got) != normalize(s.Value):
			drifted = append(drifted, Drift{Name: s.Name, Got: got, Want: s.Value})
		}
	}
	return drifted, errors.Join(errs...)
}

// normalize collapses white space, so that multi-value parameters
// ("4096\t87380") compare equal however they were written.
func normalize(v string) string { return strings.Join(strings.Fields(v), " ") }

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
