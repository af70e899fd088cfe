// Package certs provides the certificates of the public ports when majlis
// terminates TLS itself, in one of two ways:
//
//   - a key pair read from PEM files (--tls-cert, --tls-key), loaded at
//     start (a missing or bad pair is an error then) and read again on
//     Reload, which the server calls on SIGHUP: a good new pair serves
//     every new handshake from then on, a bad one is refused and the old
//     pair kept;
//   - certificates from an ACME CA (Let's Encrypt) through
//     golang.org/x/crypto/acme/autocert (--acme-domain): obtained on the
//     first handshake that names a listed domain, with the TLS-ALPN-01
//     challenge answered on the same port (so it must be 443 to the
//     world, and no port 80 is needed), cached under the data dir and
//     renewed before they expire. A name not in the list is refused
//     before any CA is asked.
//
// Data flow: New builds a Source from a Config; the server's http.Servers
// take Source.TLSConfig, whose GetCertificate reads the current pair from
// an atomic pointer (files) or asks the autocert.Manager (ACME), so a
// handshake takes no lock shared with Reload.
package certs
