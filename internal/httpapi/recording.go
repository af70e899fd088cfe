package httpapi

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"majlis/internal/account"
	"majlis/internal/hls"
	"majlis/internal/recording"
	"majlis/internal/room"
)

// Recording and clip limits.
const maxTrim = 24 * time.Hour

func (a *API) routeRecording(m *http.ServeMux) {
	m.HandleFunc("POST /api/v1/rooms/{id}/recording", a.handle(a.setRecording))
	m.HandleFunc("GET /api/v1/rooms/{id}/recording", a.handle(a.recordingInfo))
	m.HandleFunc("PATCH /api/v1/rooms/{id}/recording", a.handle(a.updateRecording))
	m.HandleFunc("DELETE /api/v1/rooms/{id}/recording", a.handle(a.deleteRecording))
	m.HandleFunc("GET /api/v1/rooms/{id}/recording.ogg", a.handle(a.recordingOgg))
	m.HandleFunc("GET /api/v1/rooms/{id}/recording/seek", a.handle(a.recordingSeek))
	m.HandleFunc("GET /api/v1/rooms/{id}/recording.m3u8", a.handle(a.recordingVOD))
	m.HandleFunc("GET /api/v1/rooms/{id}/recording/hls/{file}", a.handle(a.recordingVODFile))
	m.HandleFunc("POST /api/v1/rooms/{id}/clips", a.handle(a.makeClip))
	m.HandleFunc("GET /api/v1/clips/{clip}", a.handle(a.getClip))
}

// optionalActor is the caller, or the anonymous actor when no credential
// was sent (public replays and clips need none); a bad credential fails.
func (a *API) optionalActor(r *http.Request) (room.Actor, error) {
	p, err := a.auth(r)
	if errors.Is(err, account.ErrUnauthorized) && bearer(r) == "" {
		if _, cerr := r.Cookie(sessionCookie); cerr != nil {
			return room.Actor{}, nil
		}
	}
	if err != nil {
		return room.Actor{}, err
	}
	return p.actor(), nil
}

func (a *API) setRecording(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	var in struct {
		On *bool `json:"on"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.On == nil {
		return errorf(http.StatusBadRequest, "bad_json", `body must be {"on":true|false}`)
	}
	if err := a.rooms.SetRecording(r.Context(), p.actor(), r.PathValue("id"), *in.On); err != nil {
		return err
	}
	return a.stateAfter(w, r)
}

// recordingJSON is a recording as the API shows it.
type recordingJSON struct {
	State     string    `json:"state"`
	On        bool      `json:"on"`
	Public    bool      `json:"public"`
	Clips     bool      `json:"clips"`
	DurationS float64   `json:"duration_s"`
	Bytes     int64     `json:"bytes"` // the room's storage use
	Plays     int64     `json:"plays"`
	Dropped   int64     `json:"dropped_chunks"`
	Error     string    `json:"error,omitempty"`
	TrimmedS  float64   `json:"trimmed_s"`
	Created   time.Time `json:"created"`
	Ended     time.Time `json:"ended,omitzero"`
	Ogg       string    `json:"ogg"`
	HLS       string    `json:"hls"` // the HLS VOD playlist (Safari, hls.js)
	// Chapters are the speaker turns: {"t_s","user","name"}.
	Chapters []recording.Chapter `json:"chapters"`
}

func recordingView(id string, m recording.Meta) recordingJSON {
	v := recordingJSON{State: m.State, On: m.On, Public: m.Public, Clips: !m.ClipsOff, DurationS: m.Duration().Seconds(),
		Bytes: m.Bytes, Plays: m.Plays, Dropped: m.Dropped, Error: m.Err, TrimmedS: m.TrimmedS, Created: m.Created, Ended: m.Ended,
		Ogg: apiPrefix + "/rooms/" + id + "/recording.ogg", HLS: apiPrefix + "/rooms/" + id + "/recording.m3u8", Chapters: m.Chapters}
	if v.Chapters == nil {
		v.Chapters = []recording.Chapter{}
	}
	return v
}

// replayFor is the room of a replay request, once the caller (signed in or
// not) may hear its replay.
func (a *API) replayFor(r *http.Request) (string, error) {
	act, err := a.optionalActor(r)
	if err != nil {
		return "", err
	}
	id := r.PathValue("id")
	return id, a.rooms.PlayReplay(r.Context(), act, id)
}

// replayMeta is the meta of the replay a request names, once the caller
// may hear it (a deleted one is recording.ErrDeleted).
func (a *API) replayMeta(r *http.Request) (string, recording.Meta, error) {
	id, err := a.replayFor(r)
	if err != nil {
		return "", recording.Meta{}, err
	}
	meta, err := a.recs.Meta(id)
	return id, meta, err
}

func (a *API) recordingInfo(w http.ResponseWriter, r *http.Request) error {
	id, meta, err := a.replayMeta(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recordingView(id, meta))
	return nil
}

func (a *API) updateRecording(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	var in struct {
		Public     *bool    `json:"public"`
		Clips      *bool    `json:"clips"`
		TrimStartS *float64 `json:"trim_start_s"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.TrimStartS != nil && (math.IsNaN(*in.TrimStartS) || *in.TrimStartS <= 0 || *in.TrimStartS > maxTrim.Seconds()) {
		return errorf(http.StatusBadRequest, "bad_trim", "trim_start_s must be more than 0 and at most 86400")
	}
	id := r.PathValue("id")
	if err := a.rooms.ManageRecording(r.Context(), p.actor(), id); err != nil {
		return err
	}
	s := recording.Settings{Public: in.Public}
	if in.Clips != nil {
		off := !*in.Clips
		s.ClipsOff = &off
	}
	meta, err := a.recs.Update(id, s)
	if err != nil {
		return err
	}
	if in.TrimStartS != nil {
		if meta, err = a.recs.Trim(id, time.Duration(*in.TrimStartS*float64(time.Second))); err != nil {
			return err
		}
	}
	detail := map[string]any{}
	if in.Public != nil {
		detail["public"] = *in.Public
	}
	if in.Clips != nil {
		detail["clips"] = *in.Clips
	}
	if in.TrimStartS != nil {
		detail["trim_start_s"] = *in.TrimStartS
	}
	if err := a.rooms.ReplayChanged(r.Context(), p.actor(), id, room.AuditReplayUpdate, detail); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recordingView(id, meta))
	return nil
}

func (a *API) deleteRecording(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := a.rooms.ManageRecording(r.Context(), p.actor(), id); err != nil {
		return err
	}
	if err := a.recs.Delete(id, "deleted by "+p.ID); err != nil {
		return err
	}
	if err := a.rooms.ReplayChanged(r.Context(), p.actor(), id, room.AuditReplayDelete, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// recordingOgg serves a complete recording with Range requests
// (http.ServeContent). A request for the whole file (no Range, or
// "bytes=0-" as a browser's first request) counts as a play.
func (a *API) recordingOgg(w http.ResponseWriter, r *http.Request) error {
	id, err := a.replayFor(r)
	if err != nil {
		return err
	}
	rp, err := a.recs.OpenReplay(id)
	if err != nil {
		return err
	}
	defer rp.Close()
	if rg := r.Header.Get("Range"); r.Method == http.MethodGet && (rg == "" || rg == "bytes=0-") {
		a.recs.CountPlay(id)
	}
	w.Header().Set("Content-Type", "audio/ogg")
	if !rp.Meta.Public {
		w.Header().Set("Cache-Control", "private, no-store")
	}
	http.ServeContent(w, r, "", rp.Meta.Ended, rp)
	return nil
}

// recordingSeek answers where time t (seconds) starts in recording.ogg,
// from the side index: {"offset","time_s","header_bytes"}.
func (a *API) recordingSeek(w http.ResponseWriter, r *http.Request) error {
	act, err := a.optionalActor(r)
	if err != nil {
		return err
	}
	t, err := strconv.ParseFloat(r.URL.Query().Get("t"), 64)
	if err != nil || math.IsNaN(t) || t < 0 || t > maxTrim.Seconds() {
		return errorf(http.StatusBadRequest, "bad_range", "t must be a time in seconds from 0 to 86400")
	}
	id := r.PathValue("id")
	if err := a.rooms.PlayReplay(r.Context(), act, id); err != nil {
		return err
	}
	pos, err := a.recs.Seek(id, time.Duration(t*float64(time.Second)))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"offset": pos.Offset, "time_s": pos.At.Seconds(), "header_bytes": pos.HeaderBytes})
	return nil
}

// clipJSON is a clip as the API shows it.
type clipJSON struct {
	recording.Clip
	Page string `json:"page"`
	Ogg  string `json:"ogg"`
}

func clipView(c recording.Clip) clipJSON {
	return clipJSON{Clip: c, Page: "/c/" + c.ID, Ogg: apiPrefix + "/clips/" + c.ID + ".ogg"}
}

// makeClip cuts a clip: {"seconds":N} is the last N seconds of a live room
// (default 30, at most 60); {"from_s":T,"seconds":N} a range of its
// recording or replay.
func (a *API) makeClip(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	var in struct {
		FromS   *float64 `json:"from_s"`
		Seconds *float64 `json:"seconds"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	length := recording.DefaultClip
	if in.Seconds != nil {
		if math.IsNaN(*in.Seconds) || *in.Seconds <= 0 || *in.Seconds > recording.MaxClip.Seconds() {
			return errorf(http.StatusBadRequest, "bad_clip_length", "seconds must be more than 0 and at most 60")
		}
		length = time.Duration(*in.Seconds * float64(time.Second))
	}
	from := time.Duration(-1)
	if in.FromS != nil {
		if math.IsNaN(*in.FromS) || *in.FromS < 0 || *in.FromS > maxTrim.Seconds() {
			return errorf(http.StatusBadRequest, "bad_range", "from_s must be from 0 to 86400")
		}
		from = time.Duration(*in.FromS * float64(time.Second))
	}
	id := r.PathValue("id")
	if err := a.rooms.MakeClip(r.Context(), p.actor(), id); err != nil {
		return err
	}
	c, err := a.recs.MakeClip(id, p.ID, from, length, a.clipTTL)
	if err != nil {
		return err
	}
	if err := a.rooms.ClipMade(r.Context(), p.actor(), id, c.ID, c.From, c.Seconds); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, clipView(c))
	return nil
}

// getClip answers GET /api/v1/clips/{id} (JSON) and /api/v1/clips/{id}.ogg.
func (a *API) getClip(w http.ResponseWriter, r *http.Request) error {
	id, ogg := strings.CutSuffix(r.PathValue("clip"), ".ogg")
	if !ogg {
		c, err := a.recs.ClipInfo(id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, clipView(c))
		return nil
	}
	o, c, err := a.recs.OpenClip(id)
	if err != nil {
		return err
	}
	defer o.Close()
	w.Header().Set("Content-Type", "audio/ogg")
	http.ServeContent(w, r, "", c.Created, ioSection(o))
	return nil
}

func ioSection(o recording.Object) *io.SectionReader { return io.NewSectionReader(o, 0, o.Size()) }

// replayCacheControl says how caches may keep a replay's files: a public
// replay a minute (a deleted or removed replay leaves caches that fast), a
// private one not at all.
func replayCacheControl(public bool) string {
	if public {
		return "public, max-age=60"
	}
	return "private, no-store"
}

// recordingVOD serves a complete recording's HLS VOD playlist (4 s fMP4
// segments of its Opus packets). Fetching it counts as a play: a player
// reads a VOD playlist once.
func (a *API) recordingVOD(w http.ResponseWriter, r *http.Request) error {
	id, meta, err := a.replayMeta(r)
	if err != nil {
		return err
	}
	if meta.State == recording.StateRecording {
		return recording.ErrInProgress
	}
	a.recs.CountPlay(id)
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", replayCacheControl(meta.Public))
	w.Write(hls.VODPlaylist(meta.Samples, recording.VODSegment, "recording/hls/init.mp4", func(i int) string {
		return "recording/hls/" + strconv.Itoa(i) + ".m4s"
	}))
	return nil
}

var errBadVODFile = errorf(http.StatusNotFound, "not_found", "no such file in this replay's HLS rendition")

// recordingVODFile serves the init section or segment N.m4s of a replay's
// HLS VOD rendition.
func (a *API) recordingVODFile(w http.ResponseWriter, r *http.Request) error {
	file := r.PathValue("file")
	seg := -1
	if file != "init.mp4" {
		num, ok := strings.CutSuffix(file, ".m4s")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || n > math.MaxInt32 || strconv.Itoa(n) != num {
			return errBadVODFile
		}
		seg = n
	}
	id, err := a.replayFor(r)
	if err != nil {
		return err
	}
	var sp recording.Span
	if seg < 0 {
		sp, err = a.recs.ReplayFormat(id)
	} else {
		from := int64(seg) * recording.VODSegment
		sp, err = a.recs.ReplaySpan(id, from, from+recording.VODSegment)
	}
	if errors.Is(err, recording.ErrRange) {
		return errBadVODFile
	}
	if err != nil {
		return err
	}
	var body []byte
	if seg < 0 {
		body = hls.VODInit(sp.Channels, sp.PreSkip)
	} else if body, err = hls.VODFragment(uint32(seg), sp.Start, sp.Packets, sp.Samples); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "audio/mp4")
	w.Header().Set("Cache-Control", replayCacheControl(sp.Meta.Public))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
	return nil
}
