package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"majlis/internal/icalendar"
	"majlis/internal/web"
)

// calendarProdID names majlis as the calendar's maker (RFC 5545 §3.7.3).
const calendarProdID = "-//majlis//majlis//EN"

// roomCalendar answers a room's calendar entry (RFC 5545): its title,
// start, host, description and the link to its page, in the app's
// language. The room decides whether it has one
// (room.Service.CalendarEntry).
func (a *API) roomCalendar(w http.ResponseWriter, r *http.Request) error {
	p, err := a.rooms.CalendarEntry(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	link := web.PageURL(a.public, r, web.RoomPath(p.ID))
	// The app links to the entry with its language (?lang=); a bare link
	// follows Accept-Language.
	desc := web.Text(web.Lang(r), "calendar.hosted", "host", p.Host) + "\n" + link
	if p.Description != "" {
		desc = p.Description + "\n\n" + desc
	}
	// The UID names the room and this server, so importing the entry again
	// (or a changed one) updates it instead of adding another.
	host := r.Host
	if u, err := url.Parse(link); err == nil {
		host = u.Hostname()
	}
	body := icalendar.Calendar(calendarProdID, icalendar.Event{UID: "room-" + p.ID + "@" + host, Stamp: time.Now(),
		Start: p.StartsAt, Summary: p.Title, Description: desc, URL: link})
	h := w.Header()
	h.Set("Content-Type", "text/calendar; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="majlis-`+p.ID+`.ics"`)
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Language")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	return nil
}
