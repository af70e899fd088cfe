package web

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/text/language"
)

// langs are the app's languages, English first: the default.
var langs = []language.Tag{language.English, language.Arabic}

// texts are the app's translations (static/i18n), for what the server
// itself writes in the user's language: a link's preview, a calendar
// entry.
type texts struct {
	dicts   map[string]map[string]string // language → key → text
	matcher language.Matcher
}

// appTexts reads the embedded dictionaries once.
var appTexts = sync.OnceValue(func() *texts {
	t, err := readTexts(Files())
	if err != nil {
		panic(err) // the embedded tree always has both dictionaries
	}
	return t
})

func readTexts(files fs.FS) (*texts, error) {
	t := &texts{dicts: map[string]map[string]string{}, matcher: language.NewMatcher(langs)}
	for _, tag := range langs {
		base, _ := tag.Base()
		b, err := fs.ReadFile(files, "i18n/"+base.String()+".json")
		if err != nil {
			return nil, err
		}
		d := map[string]string{}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, err
		}
		t.dicts[base.String()] = d
	}
	return t, nil
}

// Lang picks the language of what the server writes for r as the app
// does: ?lang=, else the request's Accept-Language (a link shared among
// Arabic speakers previews in Arabic), else English.
func Lang(r *http.Request) string {
	t := appTexts()
	if q := r.URL.Query().Get("lang"); t.dicts[q] != nil {
		return q
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := t.matcher.Match(tags...)
	base, _ := langs[i].Base()
	return base.String()
}

// Text is the app's text for key in lang (from Lang), its {name}
// placeholders replaced by vars given as name, value pairs.
func Text(lang, key string, vars ...string) string {
	s := appTexts().dicts[lang][key]
	for i := 0; i+1 < len(vars); i += 2 {
		s = strings.ReplaceAll(s, "{"+vars[i]+"}", vars[i+1])
	}
	return s
}
