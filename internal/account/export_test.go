package account

// names is how many names the table holds.
func (l *loginLimiter) names() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// len is how many accounts the table holds.
func (k *knownAddrs) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}
