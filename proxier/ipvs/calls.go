package ipvs

import (
	"fmt"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Call names one Interface method. The Fake counts calls and injects errors
// by Call; errors of both implementations say which call failed.
type Call string

// The calls of Interface.
const (
	CallProbe               Call = "Probe"
	CallListServices        Call = "ListServices"
	CallListVirtualServers  Call = "ListVirtualServers"
	CallListRealServers     Call = "ListRealServers"
	CallGetService          Call = "GetService"
	CallAddVirtualServer    Call = "AddVirtualServer"
	CallUpdateVirtualServer Call = "UpdateVirtualServer"
	CallDeleteVirtualServer Call = "DeleteVirtualServer"
	CallAddRealServer       Call = "AddRealServer"
	CallUpdateRealServer    Call = "UpdateRealServer"
	CallDeleteRealServer    Call = "DeleteRealServer"
	CallRealServerStats     Call = "RealServerStats"
	CallApplyBatch          Call = "ApplyBatch"
	CallTimeouts            Call = "Timeouts"
	CallSetTimeouts         Call = "SetTimeouts"
)

// IsWrite reports whether the call changes the kernel.
func (c Call) IsWrite() bool {
	switch c {
	case CallAddVirtualServer, CallUpdateVirtualServer, CallDeleteVirtualServer,
		CallAddRealServer, CallUpdateRealServer, CallDeleteRealServer, CallSetTimeouts:
		return true
	}
	return false
}

// verb is the gerund that starts the call's error messages.
func (c Call) verb() string {
	switch c {
	case CallAddVirtualServer:
		return "adding virtual server"
	case CallUpdateVirtualServer:
		return "updating virtual server"
	case CallDeleteVirtualServer:
		return "deleting virtual server"
	case CallAddRealServer:
		return "adding real server"
	case CallUpdateRealServer:
		return "updating real server"
	case CallDeleteRealServer:
		return "deleting real server"
	}
	return string(c)
}

// callError builds the error of a failed call on subject: it wraps the
// sentinel (nil for none) and the cause (the kernel's errno; nil in the
// Fake).
func callError(c Call, subject string, sentinel, cause error) error {
	switch {
	case sentinel == nil:
		return fmt.Errorf("%s %s: %w", c.verb(), subject, cause)
	case cause == nil:
		return fmt.Errorf("%s %s: %w", c.verb(), subject, sentinel)
	}
	return fmt.Errorf("%s %s: %w (%w)", c.verb(), subject, sentinel, cause)
}

// rsSubject names a real server of a virtual server in error messages.
func rsSubject(vs model.VSKey, rs model.RSKey) string { return rs.String() + " of " + vs.String() }

// compareKeys orders virtual server keys as model.VSKey.Less does.
func compareKeys(a, b model.VSKey) int { return a.Compare(b) }
