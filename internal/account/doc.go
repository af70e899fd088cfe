// Package account is the accounts domain: users and their platform roles,
// self sign-up, password logins slowed per name, web sessions, named API
// tokens, suspension, and slow password hashing (argon2id, RFC 9106). It
// knows nothing of HTTP: internal/httpapi decodes requests, sets and clears
// the session cookie, checks CSRF and maps this package's errors to API codes
// in its one error table.
//
// A login: Service.Login checks the name and the password's length, refuses
// a name that has failed too often (one token bucket per lower-cased name:
// a burst of LoginBurst failures, then one per LoginRefill), looks the user
// up and checks the password (a name with no user or no password costs one
// dummy hash, so timing does not tell which names exist), refuses a
// suspended user, then starts a session in the store and returns its secret,
// which httpapi sets as the session cookie. Sign-up is the same without the
// throttle, after creating the user.
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
// stage sessions end as well.
package account
