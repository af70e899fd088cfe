package stage

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// TestRepublishWaitsForConnect: a member's new offer takes over only once
// its connection is up. One that never connects ends alone at its connect
// timeout while the older session goes on being heard; one that connects
// takes over, and the older one ends as replaced, with no leave.
func TestRepublishWaitsForConnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st, err := New(Config{UDPAddr: "127.0.0.1:0", ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	left := make(chan string, 4)
	st.SetOnLeave(func(room, member string) { left <- room + "/" + member })
	tookOver := make(chan string, 4)
	st.SetOnTakeOver(func(_, _, session string) { tookOver <- session })
	var curA, curX, curB atomic.Int32

	inA := newFakeIngest()
	sa := newClient(t, 'a', 1, 0).publishReq(ctx, st, PublishRequest{Room: "r", Member: "m", Ingest: inA,
		OnCurrent: func() { curA.Add(1) }})
	if sa.Pending() || curA.Load() != 1 {
		t.Fatalf("a first session: pending %v, OnCurrent called %d times", sa.Pending(), curA.Load())
	}
	waitFor(ctx, t, "A's packets", func() bool { return len(inA.packets()) >= 10 })

	// X offers and is answered, but its client is gone: ICE never completes.
	x := newClient(t, 'x', 1, 0)
	offer := x.offer()
	x.close()
	inX := newFakeIngest()
	sx, _, err := st.Publish(ctx, PublishRequest{Room: "r", Member: "m", Offer: offer, Ingest: inX,
		OnCurrent: func() { curX.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if !sx.Pending() {
		t.Fatal("a re-publish is not pending before it connects")
	}
	from := len(inA.packets())
	select {
	case <-sx.Done():
	case <-sa.Done():
		t.Fatal("the working session ended for a re-publish that never connected")
	case <-ctx.Done():
		t.Fatal("the re-publish that never connects did not end")
	}
	waitFor(ctx, t, "A's packets after X's timeout", func() bool { return len(inA.packets()) >= from+25 })
	pkts := inA.packets()
	for i := 1; i < len(pkts); i++ {
		if d := pkts[i].seq - pkts[i-1].seq; d != 1 || string(pkts[i].payload) != "\xF8\xFF\xFE"+"a" {
			t.Fatalf("A's packet %d: seq step %d, payload %x: its audio broke", i, d, pkts[i].payload)
		}
	}
	if inA.closes.Load() != 0 || inX.closes.Load() != 1 || len(inX.packets()) != 0 || curX.Load() != 0 {
		t.Fatalf("after X's timeout: A closed %d, X closed %d with %d packets, X OnCurrent %d",
			inA.closes.Load(), inX.closes.Load(), len(inX.packets()), curX.Load())
	}
	if got := st.Members("r"); !slices.Equal(got, []string{"m"}) || st.Session(sx.ID()) != nil || st.Session(sa.ID()) != sa {
		t.Fatalf("after X's timeout: Members %v", got)
	}
	select {
	case who := <-left:
		t.Fatalf("OnLeave(%s) for a re-publish that never connected", who)
	case id := <-tookOver:
		t.Fatalf("OnTakeOver(%s) for a re-publish that never connected", id)
	default:
	}

	// B connects and takes over: A ends as replaced, B is heard.
	inB := newFakeIngest()
	sb := newClient(t, 'b', 1, 0).publishReq(ctx, st, PublishRequest{Room: "r", Member: "m", Ingest: inB,
		OnCurrent: func() { curB.Add(1) }})
	select {
	case id := <-tookOver:
		if id != sb.ID() {
			t.Fatalf("OnTakeOver(%s), want B %s", id, sb.ID())
		}
	case <-ctx.Done():
		t.Fatal("B never took over")
	}
	select {
	case <-sa.Done():
	default:
		t.Fatal("A still running when B's take-over is reported")
	}
	waitFor(ctx, t, "B's packets", func() bool { return len(inB.packets()) >= 25 })
	for i, p := range inB.packets() {
		if string(p.payload) != "\xF8\xFF\xFE"+"b" {
			t.Fatalf("B's packet %d payload %x", i, p.payload)
		}
	}
	if sb.Pending() || curB.Load() != 1 || inA.closes.Load() != 1 || inB.closes.Load() != 0 {
		t.Fatalf("after B's take-over: B pending %v, OnCurrent %d; closes A %d B %d",
			sb.Pending(), curB.Load(), inA.closes.Load(), inB.closes.Load())
	}
	if got := st.Members("r"); !slices.Equal(got, []string{"m"}) || st.Session(sa.ID()) != nil {
		t.Fatalf("after B's take-over: Members %v", got)
	}
	select {
	case who := <-left:
		t.Fatalf("OnLeave(%s) for a replacement", who)
	default:
	}
	sb.Close()
	select {
	case who := <-left:
		if who != "r/m" {
			t.Fatalf("OnLeave(%s)", who)
		}
	case <-ctx.Done():
		t.Fatal("no OnLeave when B ended")
	}
}
