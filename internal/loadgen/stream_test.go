package loadgen

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"majlis/internal/program"
	"majlis/internal/wsframe"
)

// span is one Observe call (the arrival time is left out: tests feed a fixed one).
type span struct{ from, to int64 }

type recorder struct{ spans []span }

func (r *recorder) Observe(_ time.Time, from, to int64) { r.spans = append(r.spans, span{from, to}) }

var t0 = time.Unix(1000, 0)

// testChunks publishes n chunks of varied length and packet sizes (some
// over 255 bytes, so lacing values of 255 occur) and returns them.
func testChunks(t testing.TB, n int) (*program.Program, []*program.Chunk) {
	t.Helper()
	p := program.New(program.Config{Serial: 7, RingChunks: n + 4})
	rng := rand.New(rand.NewPCG(1, 2))
	for p.Head() < uint64(n) {
		p.SetChunkFrames(1 + rng.IntN(6))
		size := 3 + rng.IntN(120)
		if rng.IntN(8) == 0 {
			size = 250 + rng.IntN(600)
		}
		pkt := make([]byte, size)
		pkt[0] = 0xF8
		p.WriteFrame(pkt)
	}
	var cs []*program.Chunk
	for i := range uint64(n) {
		cs = append(cs, p.Chunk(i))
	}
	return p, cs
}

// oggTestBody is a chunked listen.ogg body as the server sends it, but with
// one to three pages per HTTP chunk and an occasional chunk extension.
func oggTestBody(t testing.TB, n int) []byte {
	p, cs := testChunks(t, n)
	b := slices.Clone(p.OggHeadersHTTP())
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < len(cs); {
		var data []byte
		for k := 1 + rng.IntN(3); k > 0 && i < len(cs); k-- {
			data = append(data, cs[i].Ogg...)
			i++
		}
		b = strconv.AppendInt(b, int64(len(data)), 16)
		if rng.IntN(4) == 0 {
			b = append(b, ";x=1 "...)
		}
		b = append(b, "\r\n"...)
		b = append(b, data...)
		b = append(b, "\r\n"...)
	}
	return append(b, "0\r\n\r\n"...)
}

func wsFrame(op byte, fin bool, payload []byte) []byte {
	b := wsframe.AppendHeader(nil, op, len(payload))
	if !fin {
		b[0] &^= 0x80
	}
	return append(b, payload...)
}

// wsTestBody is a listen.ws stream after the handshake: the hello, chunk
// messages (one fragmented, one with a needlessly long length), a ping and
// a pong between them, and a close with status 1000.
func wsTestBody(t testing.TB, n int) []byte {
	_, cs := testChunks(t, n)
	b := wsFrame(0x1, true, []byte(`{"codec":"opus","sample_rate":48000,"channels":1,"frame_samples":960,"version":1}`))
	for i, c := range cs {
		switch i {
		case 3: // fragmented, with a control frame in between
			b = append(b, wsFrame(0x2, false, c.WS[:5])...)
			b = append(b, wsFrame(0x9, true, []byte("ping!"))...)
			b = append(b, wsFrame(0x0, false, c.WS[5:15])...)
			b = append(b, wsFrame(0x0, true, c.WS[15:])...)
		case 5: // 64-bit length
			b = append(b, 0x82, 127)
			b = binary.BigEndian.AppendUint64(b, uint64(len(c.WS)))
			b = append(b, c.WS...)
		case 7:
			b = append(b, wsFrame(0xA, true, []byte("pong"))...)
			b = append(b, c.WSFrame...)
		case 9:
			b = append(b, wsFrame(0x9, true, nil)...)
			b = append(b, c.WSFrame...)
		default:
			b = append(b, c.WSFrame...)
		}
	}
	return append(b, wsFrame(0x8, true, []byte{0x03, 0xE8, 'b', 'y', 'e'})...)
}

// parse feeds pieces to a fresh parser and, if the pieces end without a
// verdict, the end of the connection. It returns the spans, what was
// written back (pongs) and the verdict.
func parse(ws, chunked bool, pieces [][]byte) ([]span, []byte, error) {
	var rec recorder
	var out bytes.Buffer
	o := oggStream{chunked: chunked}
	var w wsStream
	for _, p := range pieces {
		var err error
		if ws {
			err = w.feed(p, t0, &rec, &out)
		} else {
			err = o.feed(p, t0, &rec)
		}
		if err != nil {
			return rec.spans, out.Bytes(), err
		}
	}
	if ws {
		return rec.spans, out.Bytes(), w.eof()
	}
	return rec.spans, out.Bytes(), o.eof()
}

// oldParse is the blocking path's verdict on the same bytes.
func oldParse(ws bool, body []byte) ([]span, []byte, error) {
	var rec recorder
	var out bytes.Buffer
	now := func() time.Time { return t0 }
	br := bufio.NewReaderSize(bytes.NewReader(body), oldReadBufSize)
	var err error
	if ws {
		err = readWSMessages(br, &out, &rec, now)
	} else {
		err = oldReadOgg(br, &rec, now)
	}
	return rec.spans, out.Bytes(), err
}

func sameVerdict(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// checkSplits feeds body split at every byte boundary, byte by byte and at
// random points, and wants the verdict of the whole body each time.
func checkSplits(t *testing.T, ws, chunked bool, body []byte, rng *rand.Rand) {
	t.Helper()
	wantSpans, wantOut, wantErr := parse(ws, chunked, [][]byte{body})
	check := func(how string, pieces [][]byte) {
		t.Helper()
		spans, out, err := parse(ws, chunked, pieces)
		if !slices.Equal(spans, wantSpans) || !sameVerdict(err, wantErr) || !bytes.Equal(out, wantOut) {
			t.Fatalf("%s: %d spans, %v, %d bytes out; whole: %d spans, %v, %d bytes out",
				how, len(spans), err, len(out), len(wantSpans), wantErr, len(wantOut))
		}
	}
	for i := range len(body) + 1 {
		check(fmt.Sprintf("split at %d", i), [][]byte{body[:i], body[i:]})
	}
	ones := make([][]byte, len(body))
	for i := range body {
		ones[i] = body[i : i+1]
	}
	check("byte by byte", ones)
	for k := range 200 {
		var pieces [][]byte
		for rest := body; len(rest) > 0; {
			n := min(len(rest), rng.IntN(64)+rng.IntN(2)*rng.IntN(2000))
			pieces = append(pieces, rest[:n])
			rest = rest[n:]
		}
		check(fmt.Sprintf("random split %d", k), pieces)
	}
}

// TestStreamParsersMatchBlockingPath: the incremental parsers, fed a real
// stream whole or split anywhere, report the same media spans, answers and
// verdict as the blocking readers of the old receive path.
func TestStreamParsersMatchBlockingPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		ws   bool
		body []byte
	}{
		{"ogg", false, oggTestBody(t, 40)},
		{"ws", true, wsTestBody(t, 40)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans, out, err := parse(tc.ws, true, [][]byte{tc.body})
			oldSpans, oldOut, oldErr := oldParse(tc.ws, tc.body)
			if !errors.Is(err, io.EOF) || !errors.Is(oldErr, io.EOF) {
				t.Fatalf("verdict %v, blocking path %v; want both io.EOF", err, oldErr)
			}
			if len(spans) != 40 || !slices.Equal(spans, oldSpans) || !bytes.Equal(out, oldOut) {
				t.Fatalf("spans %v\nblocking path %v\nout %q, blocking path %q", spans, oldSpans, out, oldOut)
			}
			// The spans are the program's audio, back to back.
			for i := 1; i < len(spans); i++ {
				if spans[i].from != spans[i-1].to || spans[i].to <= spans[i].from {
					t.Fatalf("span %d %v after %v", i, spans[i], spans[i-1])
				}
			}
			if tc.ws && len(out) != 6+5+6 {
				t.Fatalf("pongs %q, want two", out)
			}
			checkSplits(t, tc.ws, true, tc.body, rand.New(rand.NewPCG(5, 6)))
		})
	}
}

// TestStreamParserVerdicts covers how streams end: cleanly, cut short or
// malformed.
func TestStreamParserVerdicts(t *testing.T) {
	ogg := oggTestBody(t, 6)
	ws := wsTestBody(t, 6)
	_, cs := testChunks(t, 3)
	var raw []byte // unchunked pages
	for _, c := range cs {
		raw = append(raw, c.Ogg...)
	}
	last := bytes.LastIndex(ogg, []byte("0\r\n\r\n"))
	badVersion := slices.Clone(cs[0].WSFrame)
	badVersion[len(badVersion)-len(cs[0].WS)] = 9
	for _, tc := range []struct {
		name    string
		ws      bool
		chunked bool
		body    []byte
		want    error  // errors.Is
		text    string // exact message, if set
	}{
		{"ogg last chunk", false, true, ogg, io.EOF, ""},
		{"ogg last chunk, trailer missing", false, true, ogg[:last+3], io.EOF, ""},
		{"ogg closed without last chunk", false, true, ogg[:last], io.ErrUnexpectedEOF, "unexpected EOF"},
		{"ogg closed mid page", false, true, ogg[:last-40], io.ErrUnexpectedEOF, ""},
		{"ogg unchunked end between pages", false, false, raw, io.EOF, ""},
		{"ogg unchunked end mid page", false, false, raw[:len(raw)-1], io.ErrUnexpectedEOF, ""},
		{"ogg last chunk mid page", false, true, []byte("5\r\nOggS\x00\r\n0\r\n\r\n"), io.ErrUnexpectedEOF, ""},
		{"ogg capture pattern", false, true, []byte("1b\r\nOggX" + string(make([]byte, 23)) + "\r\n"), errFraming, "bad stream framing: ogg capture pattern"},
		{"chunk without CRLF", false, true, []byte("3\r\nOggxx"), errChunked, ""},
		{"chunk line with bare LF", false, true, []byte("3\nOgg"), errChunked, ""},
		{"chunk length not hex", false, true, []byte("3g\r\n"), errChunked, ""},
		{"chunk extension after a blank", false, true, []byte("3 ;x\r\nOgg\r\n"), errChunked, ""},
		{"chunk length empty", false, true, []byte("\r\n"), errChunked, ""},
		{"chunk length too large", false, true, []byte("11112222333344445\r\n"), errChunked, ""},
		{"ws close 1000", true, false, ws, io.EOF, ""},
		{"ws close 1001", true, false, wsFrame(0x8, true, []byte("\x03\xe9server shutting down")), errWSClosed, "websocket closed: 1001 server shutting down"},
		{"ws close without status", true, false, wsFrame(0x8, true, nil), errWSClosed, "websocket closed"},
		{"ws end between frames", true, false, ws[:len(ws)-7], io.EOF, ""},
		{"ws end mid frame", true, false, ws[:len(ws)-9], io.ErrUnexpectedEOF, ""},
		{"ws end mid header", true, false, cs[0].WSFrame[:1], io.ErrUnexpectedEOF, ""},
		{"ws masked", true, false, []byte{0x82, 0x81, 0, 0, 0, 0, 0}, errFraming, "bad stream framing: masked server frame"},
		{"ws frame too big", true, false, append([]byte{0x82, 127}, binary.BigEndian.AppendUint64(nil, 1<<40)...), errFraming, ""},
		{"ws ping too big", true, false, append([]byte{0x89, 126, 0, 200}, make([]byte, 200)...), errFraming, ""},
		{"ws opcode", true, false, []byte{0x83, 0}, errFraming, "bad stream framing: opcode 3"},
		{"ws chunk version", true, false, badVersion, errFraming, "bad stream framing: ws chunk header"},
		{"ws short chunk", true, false, wsFrame(0x2, true, []byte{1, 2, 3}), errFraming, "bad stream framing: ws chunk header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(tc.ws, tc.chunked, [][]byte{tc.body})
			if !errors.Is(err, tc.want) || tc.text != "" && err.Error() != tc.text {
				t.Fatalf("verdict %v, want %v %q", err, tc.want, tc.text)
			}
			checkSplits(t, tc.ws, tc.chunked, tc.body, rand.New(rand.NewPCG(7, 8)))
		})
	}
}

// FuzzOggStreamParser: any body, split anywhere, never panics and gets the
// verdict of the whole body.
func FuzzOggStreamParser(f *testing.F) {
	f.Add(oggTestBody(f, 4), true, uint64(1))
	f.Add([]byte("5;e\r\nOggS\x00\r\n0\r\n\r\n"), true, uint64(2))
	_, cs := testChunks(f, 2)
	f.Add(append(slices.Clone(cs[0].Ogg), cs[1].Ogg...), false, uint64(3))
	f.Fuzz(func(t *testing.T, body []byte, chunked bool, seed uint64) {
		fuzzSplits(t, false, chunked, body, seed)
	})
}

// FuzzWSStreamParser: any server frames, split anywhere, never panic and
// get the verdict of the whole stream.
func FuzzWSStreamParser(f *testing.F) {
	f.Add(wsTestBody(f, 12), uint64(1))
	f.Add([]byte("\x89\x02hi\x88\x02\x03\xe8"), uint64(2))
	f.Fuzz(func(t *testing.T, body []byte, seed uint64) {
		fuzzSplits(t, true, false, body, seed)
	})
}

func fuzzSplits(t *testing.T, ws, chunked bool, body []byte, seed uint64) {
	wantSpans, wantOut, wantErr := parse(ws, chunked, [][]byte{body})
	rng := rand.New(rand.NewPCG(seed, seed>>32))
	var pieces [][]byte
	for rest := body; len(rest) > 0; {
		n := min(len(rest), rng.IntN(40))
		pieces = append(pieces, rest[:n])
		rest = rest[n:]
	}
	spans, out, err := parse(ws, chunked, pieces)
	if !slices.Equal(spans, wantSpans) || !sameVerdict(err, wantErr) || !bytes.Equal(out, wantOut) {
		t.Fatalf("split: %v %v %q; whole: %v %v %q", spans, err, out, wantSpans, wantErr, wantOut)
	}
}
