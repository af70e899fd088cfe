package admission

// LeadingZeroBits is the number of leading zero bits of SHA-256(s).
func LeadingZeroBits(s string) int { return leadingZeroBits([]byte(s)) }
