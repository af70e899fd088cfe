package certs

import "golang.org/x/crypto/acme"

// newACMEClient talks to the CA at directory (a staging CA, a private one).
func newACMEClient(directory string) *acme.Client { return &acme.Client{DirectoryURL: directory} }
