//go:build !linux

package ipvs

import "fmt"

// Kernel is Interface on the running kernel's IPVS. IPVS exists only on
// Linux: elsewhere New fails and no Kernel can be made.
type Kernel struct{ Interface }

// New fails with ErrUnavailable: IPVS exists only on Linux.
func New() (*Kernel, error) { return nil, fmt.Errorf("IPVS requires Linux: %w", ErrUnavailable) }

// Close does nothing.
func (k *Kernel) Close() error { return nil }
