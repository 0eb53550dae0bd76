package ipvs

import (
	"errors"
	"fmt"
	"os"
)

// Probe implements Interface. It checks, in order, that the network
// namespace has IPVS (/proc/net/ip_vs), that the kernel knows the IPVS
// generic netlink family (opening the raw socket of dumps and batches), and
// that a request through moby/ipvs gets an answer (reading the timeouts).
// moby/ipvs resolves the family once per process, so IPVS loaded after New
// ran fails the last step: restart then.
func (k *Kernel) Probe() error {
	if _, err := os.Stat(k.procPath); err != nil {
		return unavailable(fmt.Errorf("IPVS is not enabled in this network namespace: %w", err))
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.sockReady(); err != nil {
		return err
	}
	if _, err := k.getConfig(); err != nil {
		if errors.Is(err, ErrUnavailable) {
			return err
		}
		return unavailable(err)
	}
	return nil
}
