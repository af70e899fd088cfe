package ratelimit

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	r := Rate{PerSecond: 2, Burst: 3}
	t0 := time.Unix(1000, 0)
	var b Bucket
	for i := range 3 {
		if ok, _ := b.Take(r, t0); !ok {
			t.Fatalf("take %d of a full bucket refused", i)
		}
	}
	ok, retry := b.Take(r, t0)
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("empty bucket: ok %v retry %v, want refused, 500ms", ok, retry)
	}
	// A refused take costs nothing: half a second later one token is back.
	if ok, _ := b.Take(r, t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("refilled token refused")
	}
	if ok, _ := b.Peek(r, t0.Add(500*time.Millisecond)); ok {
		t.Fatal("peek saw a token that was just taken")
	}
	if b.Full(r, t0.Add(1*time.Second)) {
		t.Fatal("full too early")
	}
	if !b.Full(r, t0.Add(2*time.Second)) {
		t.Fatal("not full after refilling the whole depth")
	}
	if got := b.Tokens(r, t0.Add(time.Hour)); got != 3 {
		t.Fatalf("tokens capped at %v, want burst 3", got)
	}
}

func TestBucketWait(t *testing.T) {
	r := Rate{PerSecond: 10, Burst: 2}
	t0 := time.Unix(1000, 0)
	var b Bucket
	want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond}
	for i, w := range want {
		if got := b.Wait(r, t0); got != w {
			t.Fatalf("wait %d: %v, want %v", i, got, w)
		}
	}
}

func TestZeroRate(t *testing.T) {
	var b Bucket
	r := Rate{PerSecond: 0, Burst: 1}
	now := time.Unix(1, 0)
	if ok, _ := b.Take(r, now); !ok {
		t.Fatal("first token of a burst-1 bucket refused")
	}
	if ok, retry := b.Take(r, now.Add(time.Hour)); ok || retry <= 0 {
		t.Fatalf("a bucket that never refills gave a second token (retry %v)", retry)
	}
}
