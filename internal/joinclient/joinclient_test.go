package joinclient

import "testing"

// TestDefaultClientTimeout: a Join given no client still bounds each
// request, so a server that never answers cannot hang the caller.
func TestDefaultClientTimeout(t *testing.T) {
	var o Options
	o.setDefaults()
	if o.Client == nil || o.Client.Timeout != DefaultTimeout {
		t.Fatalf("default client %+v, want one with a %v timeout", o.Client, DefaultTimeout)
	}
}
