package account

// MinAdminToken is the shortest admin token accepted: the length of 32
// random bytes in unpadded base64url.
const MinAdminToken = 43

// AdminTokenRule says what ValidAdminToken wants, for error messages and docs.
const AdminTokenRule = "at least 43 characters of A-Z a-z 0-9 - _ . ~ (32 random bytes in base64url, or 64 hex digits)"

// ValidAdminToken says whether tok may be the platform admin's token: at
// least MinAdminToken characters, each URL-safe (RFC 3986 unreserved:
// letters, digits, '-', '_', '.', '~'), and not longer than MaxSecret. The
// token is everything on the platform, so a guessable one is refused at
// start-up rather than found later.
func ValidAdminToken(tok string) bool {
	if len(tok) < MinAdminToken || len(tok) > MaxSecret {
		return false
	}
	for _, c := range tok {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}
