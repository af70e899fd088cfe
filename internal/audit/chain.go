package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// hashDomain separates this chain's hashes from any other use of SHA-256
// over similar bytes; the version changes if the encoding ever does.
const hashDomain = "majlis audit v1\x00"

// chainHash is a row's hash: hex SHA-256 over the domain, the previous
// row's hash (hex, "" for the first) and the row's canonical encoding:
// seq and at (ms since the epoch) as 8-byte big-endian integers, then
// actor, action, target, room, reason and detail (its canonical JSON, ""
// for none), each as a 4-byte big-endian length and its bytes. docs/audit.md
// gives the same recipe, so the chain can be checked without majlis.
func chainHash(prev string, seq uint64, atMS int64, e Entry, detail string) string {
	h := sha256.New()
	h.Write([]byte(hashDomain))
	writeField(h, prev)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], seq)
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(atMS))
	h.Write(n[:])
	for _, f := range []string{e.Actor, e.Action, e.Target, e.Room, e.Reason, detail} {
		writeField(h, f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeField(h interface{ Write([]byte) (int, error) }, s string) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

// encodeDetail is detail's canonical JSON: encoding/json's, which sorts
// map keys at every level and adds no space; "" for an empty detail.
func encodeDetail(d map[string]any) (string, error) {
	if len(d) == 0 {
		return "", nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("detail: %w", err)
	}
	return string(b), nil
}

func decodeDetail(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("detail: %w", err)
	}
	return d, nil
}

// ChainError is Verify's finding: the first row that does not check out.
type ChainError struct {
	Seq    uint64 // the row's seq (for a missing row: the seq expected there)
	Reason string
	Row    *Row // the row as stored (nil for a missing row)
}

func (e *ChainError) Error() string { return fmt.Sprintf("audit log: row %d: %s", e.Seq, e.Reason) }

// Verified is what Verify walked.
type Verified struct {
	Rows uint64 // rows checked
	Head string // the last row's hash ("" for an empty log)
}

// Verify walks the whole chain, oldest first, in one read snapshot: every
// seq follows the one before it (no row removed or moved), every prev is
// the previous row's hash and every hash is the row's own. It also checks
// the chain reaches the head this Log wrote last (rows cut off the end). A
// broken chain is a *ChainError naming the first bad row.
func (l *Log) Verify(ctx context.Context) (Verified, error) {
	headSeq, headHash := l.Head()
	return verify(ctx, l.rd, headSeq, headHash)
}

// VerifyFile verifies the audit log at path without writing to it (the
// file may be a running server's): `majlis audit verify`. A file that
// does not exist is an error, not an empty log.
func VerifyFile(ctx context.Context, path string) (Verified, error) {
	if _, err := os.Stat(path); err != nil {
		return Verified{}, fmt.Errorf("audit verify: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return Verified{}, fmt.Errorf("audit verify: %w", err)
	}
	defer db.Close()
	return verify(ctx, db, 0, "")
}

// verify walks the chain in db; headSeq and headHash (0, "": unknown) are
// the last row its writer knows of.
func verify(ctx context.Context, db *sql.DB, headSeq uint64, headHash string) (Verified, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Verified{}, fmt.Errorf("audit verify: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT seq, at, actor, action, target, room, reason, detail, prev, hash FROM audit ORDER BY seq`)
	if err != nil {
		return Verified{}, fmt.Errorf("audit verify: %w", err)
	}
	defer rows.Close()
	var v Verified
	var want uint64 = 1
	for rows.Next() {
		var seq, at int64
		var e Entry
		var detail, prev, hash string
		if err := rows.Scan(&seq, &at, &e.Actor, &e.Action, &e.Target, &e.Room, &e.Reason, &detail, &prev, &hash); err != nil {
			return v, fmt.Errorf("audit verify: %w", err)
		}
		s := uint64(seq)
		bad := func(reason string) error {
			r := &Row{Seq: s, At: time.UnixMilli(at).UTC(), Entry: e, Prev: prev, Hash: hash}
			r.Detail, _ = decodeDetail(detail)
			return &ChainError{Seq: s, Reason: reason, Row: r}
		}
		switch {
		case seq < 1:
			return v, bad("seq out of range")
		case s != want:
			return v, &ChainError{Seq: want, Reason: fmt.Sprintf("missing (the next row is %d)", s)}
		case prev != v.Head:
			return v, bad("prev is not the previous row's hash (a row before it was removed, moved or edited)")
		case chainHash(prev, s, at, e, detail) != hash:
			return v, bad("hash does not match the row (edited)")
		case s == headSeq && hash != headHash:
			return v, bad("not the row this process wrote")
		}
		v.Rows, v.Head, want = s, hash, s+1
	}
	if err := rows.Err(); err != nil {
		return v, fmt.Errorf("audit verify: %w", err)
	}
	if v.Rows < headSeq {
		return v, &ChainError{Seq: v.Rows + 1, Reason: fmt.Sprintf("missing (this process wrote up to %d)", headSeq)}
	}
	return v, nil
}
