// Package account is the accounts domain: users and their platform roles,
// self sign-up, password logins slowed per name, web sessions, named API
// tokens, suspension, and slow password hashing (argon2id, RFC 9106). It
// knows nothing of HTTP: internal/httpapi decodes requests, sets and clears
// the session cookie, checks CSRF and maps this package's errors to API codes
// in its one error table.
//
// A login: httpapi passes the name, password, client address and any
// proof of work as an Attempt. Service.Login checks the name and the
// password's length, spends a token of the address's and its /24's (/48's)
// buckets (admission.Limiter, shared with sign-up), and, when the account
// (its NameKey: NFKC, case-folded) has failed past its budget (LoginBurst,
// then one per LoginRefill) and the address is not one its owner logged in
// from, asks for a proof of work (admission.PoW) instead of refusing, so
// strangers' failures never lock the owner out. Only then is the password
// checked (a name with no user or no password costs one dummy hash, so
// timing does not tell which names exist), in a slot of the hashing pool:
// at most HashSlots hashes run at once, a bounded queue waits at most
// HashWait, and beyond that the answer is ErrBusy. A suspended user is
// refused; otherwise a session starts in the store, its secret returned
// (httpapi sets the cookie) and the address remembered as the owner's.
// Sign-up is the same without the account budget, after refusing reserved
// names and creating the user; user names are unique by key in the store.
//
// A request: httpapi passes the bearer token to Service.Resolve (the admin
// token, compared in constant time, or an API token looked up by its hash) or
// the cookie's secret to Service.ResolveSession (unexpired on the service's
// clock), and gets a Principal. A suspended user's principal says so: callers
// refuse it for everything but reading its own account and logging out, and
// the methods here that act for a principal refuse it too.
//
// Suspending a user ends their web sessions in the store and then calls
// Config.OnSuspend, which the server wires to the room domain so that their
// stage sessions end as well; deleting an API token calls
// Config.OnTokenRevoked, wired the same way.
//
// Admin actions (creating a user, suspending, reinstating) and token
// revocations are recorded in the audit log (Config.Audit, audit.go) once
// they took effect; a row that cannot be written fails the call with
// audit.ErrUnavailable.
package account
