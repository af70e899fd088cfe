package server

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"majlis/internal/web"
)

// browserLangs are the web app's languages, as the bilingual browser tests
// run them: English, then Arabic (right to left).
var browserLangs = []string{"en", "ar"}

// inLang is what the page says for the dictionary's key in lang: english,
// as the test had it, in English (and the dictionary must agree, so the
// key is the one the page uses), else the web app's dictionary
// (internal/web) for lang, vars filling its {name} placeholders.
func inLang(t *testing.T, lang, english, key string, vars ...string) string {
	t.Helper()
	s := web.Text(lang, key, vars...)
	if s == "" {
		t.Fatalf("the %s dictionary has no %q", lang, key)
	}
	if lang == "en" && s != english {
		t.Fatalf("%q reads %q in the English dictionary, the test expects %q", key, s, english)
	}
	return s
}

// pluralForms matches key's text in lang in any of its plural forms
// (key.zero … key.other, as i18n.js's tn picks them), {n} any number in
// Latin or Arabic-Indic digits.
func pluralForms(t *testing.T, lang, key string) *regexp.Regexp {
	t.Helper()
	var alts []string
	for _, form := range []string{"zero", "one", "two", "few", "many", "other"} {
		if s := web.Text(lang, key+"."+form); s != "" {
			alts = append(alts, strings.ReplaceAll(regexp.QuoteMeta(s), regexp.QuoteMeta("{n}"), `[0-9٠-٩]+`))
		}
	}
	if len(alts) == 0 {
		t.Fatalf("the %s dictionary has no plural forms of %q", lang, key)
	}
	return regexp.MustCompile("^(?:" + strings.Join(alts, "|") + ")$")
}

// withLang is path asking for lang (?lang= or &lang=).
func withLang(path, lang string) string {
	if strings.Contains(path, "?") {
		return path + "&lang=" + lang
	}
	return path + "?lang=" + lang
}

// inDir is a script: whether the page is in lang, and right to left
// exactly when lang is Arabic.
func inDir(lang string) string {
	dir := "ltr"
	if lang == "ar" {
		dir = "rtl"
	}
	return fmt.Sprintf(`(document.documentElement.lang === %q && (document.documentElement.dir || "ltr") === %q)`, lang, dir)
}
