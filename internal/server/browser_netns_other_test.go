//go:build !linux

package server

import "testing"

// inLoopbackNetns: network namespaces are Linux only; elsewhere the browser
// runs in the current network namespace.
func inLoopbackNetns(t *testing.T) bool { return false }
