package account

import (
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// ValidName says whether s is an acceptable user name: 1-MaxName ASCII
// letters, digits, '.', '_' or '-'.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxName {
		return false
	}
	for _, c := range s {
		if !(c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// NameKey is the form names are compared in: NFKC-normalised, then
// case-folded (Unicode full case folding). Two names with one key are one
// name: "alice", "ALICE" and "Alice" cannot all exist, and a login names the
// account whatever the case. The store keeps the key unique (users.name_key).
// For the ASCII names ValidName accepts today this is lower-casing; the
// normalisation is there for when names widen.
func NameKey(name string) string {
	// A cases.Caser is not safe for concurrent use: one per call (cheap).
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
}

// reservedNames cannot be taken by self sign-up (by key): they name the
// platform or its staff, or read as a role. An admin may still create them.
var reservedNames = map[string]bool{
	"admin": true, "administrator": true, "root": true, "superuser": true, "sysadmin": true,
	"moderator": true, "mod": true, "mods": true, "staff": true, "official": true, "owner": true,
	"system": true, "majlis": true, "support": true, "help": true, "helpdesk": true, "me": true,
	"security": true, "abuse": true, "postmaster": true, "webmaster": true, "hostmaster": true, "noreply": true, "no-reply": true,
	"api": true, "www": true, "anonymous": true, "guest": true, "everyone": true, "null": true, "undefined": true,
}

// Reserved says whether self sign-up refuses name.
func Reserved(name string) bool { return reservedNames[NameKey(name)] }
