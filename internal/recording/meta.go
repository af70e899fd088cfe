package recording

import (
	"encoding/json"
	"time"
)

// Recording states (Meta.State).
const (
	// StateRecording: a writer is appending (or was, when the process
	// died: the next start repairs the file).
	StateRecording = "recording"
	// StatePaused: the file is complete (end of stream written); the
	// room is live or may resume, and recording may go on.
	StatePaused = "paused"
	// StateFinished: the room ended; the recording is the replay.
	StateFinished = "finished"
	// StateDeleted: deleted by the host or the retention job; the meta
	// stays as a tombstone so the replay answers 410.
	StateDeleted = "deleted"
)

// Meta is a recording's state, kept next to it (recordings/ROOM/meta.json)
// and replaced whole on every change of state.
type Meta struct {
	Room     string  `json:"room"`
	State    string  `json:"state"`
	On       bool    `json:"on"` // the host wants the room recorded
	Public   bool    `json:"public"`
	ClipsOff bool    `json:"clips_off"`
	File     string  `json:"file"`  // the Ogg object
	Index    string  `json:"index"` // its side index
	Serial   uint32  `json:"serial"`
	Seq      uint32  `json:"seq"`      // sequence number of the end-of-stream page (the next page when resumed)
	Samples  int64   `json:"samples"`  // granule position at the end: 48 kHz samples recorded
	DataEnd  int64   `json:"data_end"` // bytes before the end-of-stream page
	Bytes    int64   `json:"bytes"`
	Plays    int64   `json:"plays"`
	Dropped  int64   `json:"dropped"` // program chunks the writer could not take (see writer.queue)
	Err      string  `json:"error,omitempty"`
	TrimmedS float64 `json:"trimmed_s,omitempty"`
	// Chapters are the speaker turns while recording, in order.
	Chapters []Chapter `json:"chapters,omitempty"`

	Created time.Time `json:"created"`
	Ended   time.Time `json:"ended,omitzero"`   // the room ended
	Deleted time.Time `json:"deleted,omitzero"` // when State became deleted
	// Withheld names the moderation decision that took the recording out
	// of reach until WithheldUntil (Manager.Withhold); "" when it is not.
	Withheld      string    `json:"withheld,omitempty"`
	WithheldUntil time.Time `json:"withheld_until,omitzero"`
}

// keepEntry carries over from cur, the entry's meta, what a writer's copy
// does not own: the host's settings, the play count, the chapters and a
// withholding.
func (m *Meta) keepEntry(cur Meta) {
	m.On, m.Public, m.ClipsOff, m.Plays = cur.On, cur.Public, cur.ClipsOff, cur.Plays
	m.Chapters = cur.Chapters
	m.Withheld, m.WithheldUntil = cur.Withheld, cur.WithheldUntil
}

// Duration is the recorded audio's length.
func (m Meta) Duration() time.Duration {
	return time.Duration(m.Samples) * time.Second / 48000
}

func metaName(room string) string { return "recordings/" + room + "/meta.json" }

func (m *Manager) putMeta(meta Meta) error {
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return m.st.Put(metaName(meta.Room), b)
}

// Chapter is a speaker's turn: from AtS seconds into the recording.
type Chapter struct {
	AtS  float64 `json:"t_s"`
	User string  `json:"user"`
	Name string  `json:"name"`
}

// maxChapters bounds a recording's chapters (a room with a very busy stage
// keeps its first ones).
const maxChapters = 2000
