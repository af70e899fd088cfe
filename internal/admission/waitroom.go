package admission

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/netip"
	"sync"
	"time"
)

// DefaultJoinRate is the joins admitted per room per second at full health.
const DefaultJoinRate = 100

// WaitingConfig configures a WaitingRoom.
type WaitingConfig struct {
	Key   []byte  // signs queue tokens (derived; the ticket key is fine)
	Rate  float64 // joins admitted per second per room at full health; 0 means DefaultJoinRate
	Burst float64 // joins admitted at once when nobody waits; 0 means Rate
	// MaxWait refuses to queue an arrival whose turn is further away (queue full); 0 means 10 min.
	MaxWait time.Duration
	// Grace is how long a turn stays valid after it comes; 0 means 30 s.
	Grace time.Duration
	// LobbyPoll is the Retry-After given to people waiting before the start; 0 means 2 s.
	LobbyPoll time.Duration
	Now       func() time.Time // tests
}

// Decision is the waiting room's answer to one join.
type Decision struct {
	Admit    bool
	Full     bool          // the queue is full: come back after Wait without a token
	Lobby    bool          // the room has not started: keep Token and come back after Wait
	Token    string        // the queue token to present next time (empty when admitted)
	Position int           // people ahead (estimated from the admission rate)
	Wait     time.Duration // until the turn comes (Retry-After)
	// NeedPoW: the arrival was let past the puzzle for its token
	// (Arrival.HolderOnly), but the token holds no place any more: ask
	// for the puzzle instead of giving it a new place.
	NeedPoW bool
}

// Arrival is one join as the waiting room sees it.
type Arrival struct {
	Live    bool      // the room has started, at Started (zero: now)
	Started time.Time // when the room started
	Token   string    // the queue token the client presents, if any
	// From is the client's address: a token issued to a client that solved
	// a puzzle (Paid) holds its place for that address only.
	From netip.Addr
	// Factor (0..1] scales the admission rate down under overload; 0 means 1.
	Factor float64
	// Paid says the client solved a proof of work to come in: the token it
	// is given is bound to From.
	Paid bool
	// HolderOnly says the client skipped the puzzle because Holds said its
	// token holds a place: if the token no longer does (a concurrent request
	// used it), the answer is NeedPoW, not a new place.
	HolderOnly bool
}

// WaitingRoom admits joins to each room at a rate and queues the rest in
// arrival order. It is a virtual clock per room (GCRA): each arrival beyond
// the burst is given the next free turn, a time, inside a signed queue token;
// presenting the token at or after that time admits once (tokens are
// single-use). Nothing is held per waiting person, so a million-strong queue
// costs nothing but the tokens they carry (and the ids of used ones, for as
// long as they would be valid).
//
// A valid, unused token exempts its holder from the proof of work (Holds):
// once used or expired it exempts no one, and a token issued to a client
// that solved a puzzle is bound to that client's address.
//
// People who join before the room starts get a lobby token holding a random
// number; at the start, the lobby's turns are laid out first, in the order of
// those numbers: a uniform shuffle, so arriving early (or in bulk) gains
// nothing over arriving a minute before the start.
//
// Existing listeners are never affected: the waiting room only gates new tickets.
type WaitingRoom struct {
	cfg   WaitingConfig
	mac   *macPool
	used  *onceSet
	mu    sync.Mutex
	rooms map[string]*roomQueue
	swept time.Time
}

type roomQueue struct {
	live      bool
	lobbyN    int     // lobby holders counted at the start
	winStart  float64 // lobby activity window (LobbyPoll long): holders seen in it
	winCount  int
	prevCount int
	start     float64 // unix seconds
	lobbyRate float64
	tat       float64 // unix seconds: the next free turn plus the burst allowance
	touched   time.Time
}

const (
	tokLobby = 1
	tokTurn  = 2
	// tokBound flags a token whose MAC also covers the address it was
	// issued to (after a puzzle): from another address it does not verify.
	tokBound = 0x80
	// MaxQueueTokenLen bounds what the waiting room reads.
	MaxQueueTokenLen = 256
)

// NewWaitingRoom returns a waiting room.
func NewWaitingRoom(cfg WaitingConfig) *WaitingRoom {
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultJoinRate
	}
	if cfg.Burst < 1 {
		cfg.Burst = cfg.Rate
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 10 * time.Minute
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.LobbyPoll <= 0 {
		cfg.LobbyPoll = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &WaitingRoom{cfg: cfg, mac: newMacPool(deriveKey(cfg.Key, "majlis queue v1")), used: newOnceSet(1<<22, cfg.Grace), rooms: make(map[string]*roomQueue)}
}

// Rate is the configured per-room admission rate at full health.
func (w *WaitingRoom) Rate() float64 { return w.cfg.Rate }

type queueToken struct {
	kind  byte
	turn  float64 // unix seconds
	id    uint64
	bound bool // to the address it was issued to
}

// binding is what a bound token's MAC covers besides the token: the address.
func binding(bound bool, from netip.Addr) []byte {
	if !bound {
		return nil
	}
	a := from.Unmap().As16()
	return a[:]
}

func (w *WaitingRoom) issue(room string, t queueToken, from netip.Addr) string {
	b := make([]byte, 0, 18+len(room)+macLen)
	kind := t.kind
	if t.bound {
		kind |= tokBound
	}
	b = append(b, kind)
	b = binary.BigEndian.AppendUint64(b, uint64(int64(t.turn*1000)))
	b = binary.BigEndian.AppendUint64(b, t.id)
	b = append(b, room...)
	b = w.mac.sumWith(b, b, binding(t.bound, from))
	return base64.RawURLEncoding.EncodeToString(b)
}

// parse verifies tok as a token of room presented from from.
func (w *WaitingRoom) parse(tok, room string, from netip.Addr) (queueToken, bool) {
	if tok == "" || len(tok) > MaxQueueTokenLen {
		return queueToken{}, false
	}
	var buf [MaxQueueTokenLen]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(tok))
	if err != nil || n != 17+len(room)+macLen {
		return queueToken{}, false
	}
	body := buf[:n-macLen]
	bound := body[0]&tokBound != 0
	var sum [macLen]byte
	if !hmac.Equal(w.mac.sumWith(sum[:0], body, binding(bound, from)), buf[n-macLen:n]) || string(body[17:]) != room {
		return queueToken{}, false
	}
	t := queueToken{kind: body[0] &^ tokBound, turn: float64(int64(binary.BigEndian.Uint64(body[1:9]))) / 1000, id: binary.BigEndian.Uint64(body[9:17]), bound: bound}
	if t.kind != tokLobby && t.kind != tokTurn {
		return queueToken{}, false
	}
	return t, true
}

func randID() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// Join decides one join to room.
func (w *WaitingRoom) Join(room string, a Arrival) Decision {
	now := w.cfg.Now()
	nowS := float64(now.UnixNano()) / 1e9
	factor := a.Factor
	if factor <= 0 {
		factor = 1
	}
	rate := w.cfg.Rate * math.Min(1, math.Max(factor, 0.02))
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sweep(now)
	q := w.rooms[room]
	if q == nil {
		q = &roomQueue{}
		w.rooms[room] = q
	}
	q.touched = now
	if a.Live && !q.live {
		q.live, q.lobbyRate = true, rate
		q.start = nowS
		if !a.Started.IsZero() {
			q.start = float64(a.Started.UnixNano()) / 1e9
		}
		// The lobby is the holders active lately (each polls once per
		// LobbyPoll): tokens taken and abandoned (bots) reserve no turns.
		q.roll(nowS, w.cfg.LobbyPoll.Seconds())
		q.lobbyN = max(q.prevCount, q.winCount)
		q.tat = math.Max(q.tat, q.start+float64(q.lobbyN)/rate)
	}
	if t, ok := w.parse(a.Token, room, a.From); ok {
		turn := t.turn
		if t.kind == tokLobby {
			if !a.Live {
				q.lobbySeen(nowS, w.cfg.LobbyPoll.Seconds())
				return Decision{Lobby: true, Token: a.Token, Wait: w.cfg.LobbyPoll}
			}
			turn = q.lobbyTurn(t.id)
		}
		switch {
		case turn > nowS:
			wait := turn - nowS
			return Decision{Token: a.Token, Wait: seconds(wait), Position: int(math.Ceil(wait * rate))}
		case nowS <= turn+w.cfg.Grace.Seconds():
			if w.used.use(t.id, now.UnixNano()) {
				return Decision{Admit: true}
			}
		}
		// Expired or already used: a new arrival.
	}
	if a.HolderOnly {
		return Decision{NeedPoW: true}
	}
	issue := func(t queueToken) string {
		t.id, t.bound = randID(), a.Paid
		return w.issue(room, t, a.From)
	}
	if !a.Live {
		// Not counted until it polls: tokens taken and never shown again (bots) hold no turn.
		return Decision{Lobby: true, Token: issue(queueToken{kind: tokLobby}), Wait: w.cfg.LobbyPoll}
	}
	interval := 1 / rate
	tolerance := (w.cfg.Burst - 1) * interval * math.Min(1, math.Max(factor, 0.02))
	tat := math.Max(q.tat, nowS)
	turn := tat - tolerance
	if turn <= nowS {
		q.tat = tat + interval
		return Decision{Admit: true}
	}
	wait := turn - nowS
	if wait > w.cfg.MaxWait.Seconds() {
		return Decision{Full: true, Wait: min(w.cfg.MaxWait/10, 30*time.Second), Position: int(wait * rate)}
	}
	q.tat = tat + interval
	return Decision{Token: issue(queueToken{kind: tokTurn, turn: turn}), Wait: seconds(wait), Position: int(math.Ceil(wait * rate))}
}

// lobbyTurn is the turn of a lobby token with id once the room has started:
// the random id places the holder uniformly among the lobby (the shuffle).
func (q *roomQueue) lobbyTurn(id uint64) float64 {
	rank := float64(id>>11) / (1 << 53) * float64(q.lobbyN)
	return q.start + rank/q.lobbyRate
}

// Waiting estimates how many people hold a future turn in room.
func (w *WaitingRoom) Waiting(room string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.rooms[room]
	if q == nil {
		return 0
	}
	ahead := q.tat - float64(w.cfg.Now().UnixNano())/1e9
	if ahead <= 0 {
		return 0
	}
	return int(ahead * w.cfg.Rate)
}

func seconds(s float64) time.Duration { return time.Duration(s * 1e9) }

// sweep forgets rooms nobody joined for ten minutes (at most once a minute).
func (w *WaitingRoom) sweep(now time.Time) {
	if now.Sub(w.swept) < time.Minute {
		return
	}
	w.swept = now
	for id, q := range w.rooms {
		if now.Sub(q.touched) > 10*time.Minute && q.tat < float64(now.Unix()) {
			delete(w.rooms, id)
		}
	}
}

// Holds reports whether tok, presented from from, holds a place in room's
// queue: a valid token of room (bound ones from the address they were issued
// to), not used yet and not past its turn's grace (it may not be its turn
// yet). Such a client already paid to enter and is not taxed again; Join
// with HolderOnly settles a race with a concurrent use of the same token.
func (w *WaitingRoom) Holds(room, tok string, from netip.Addr) bool {
	t, ok := w.parse(tok, room, from)
	if !ok || w.used.seen(t.id) {
		return false
	}
	turn := t.turn
	if t.kind == tokLobby {
		w.mu.Lock()
		q := w.rooms[room]
		if q == nil || !q.live { // before the start a lobby place does not end
			w.mu.Unlock()
			return true
		}
		turn = q.lobbyTurn(t.id)
		w.mu.Unlock()
	}
	return float64(w.cfg.Now().UnixNano())/1e9 <= turn+w.cfg.Grace.Seconds()
}

// roll moves the lobby activity window to now.
func (q *roomQueue) roll(now, win float64) {
	switch {
	case now-q.winStart >= 2*win:
		q.prevCount, q.winCount, q.winStart = 0, 0, now
	case now-q.winStart >= win:
		q.prevCount, q.winCount, q.winStart = q.winCount, 0, q.winStart+win
	}
}

// lobbySeen counts a lobby holder polling now.
func (q *roomQueue) lobbySeen(now, win float64) {
	q.roll(now, win)
	q.winCount++
}

// Backlog is the longest wait a new arrival would get in any room: demand
// beyond the admission rate, a load signal for the overload detector (a
// join flood raises it before it shows in CPU).
func (w *WaitingRoom) Backlog() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := float64(w.cfg.Now().UnixNano()) / 1e9
	var worst float64
	for _, q := range w.rooms {
		worst = math.Max(worst, q.tat-now)
	}
	return seconds(worst)
}

// RoomBacklog is the wait a new arrival in room would get now.
func (w *WaitingRoom) RoomBacklog(room string) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.rooms[room]
	if q == nil {
		return 0
	}
	return seconds(math.Max(0, q.tat-float64(w.cfg.Now().UnixNano())/1e9))
}
