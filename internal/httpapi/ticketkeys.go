package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"majlis/internal/admission"
)

// KeyRotator rotates the ticket keys while the server runs: a new key
// signs, the previous one still verifies, the edges are told (the server's
// ticketKeys implements it).
type KeyRotator interface {
	RotateTicketKeys(ctx context.Context, actor string) (admission.Rotation, error)
}

var errRotationTooSoon = errorf(http.StatusConflict, "rotation_too_soon",
	"the ticket keys were rotated less than a ticket lifetime ago: tickets of the key a rotation would drop may still be valid; retry after Retry-After")

func (a *API) routeTicketKeys(m *http.ServeMux) {
	m.HandleFunc("POST /api/v1/admin/ticket-keys/rotate", a.handle(a.rotateTicketKeys))
}

// rotateTicketKeys answers POST /api/v1/admin/ticket-keys/rotate (admins):
// the new current key's id and when the next rotation is allowed. The
// keys themselves never leave the server this way.
func (a *API) rotateTicketKeys(w http.ResponseWriter, r *http.Request) error {
	p, err := a.adminOnly(r)
	if err != nil {
		return err
	}
	rot, err := a.keys.RotateTicketKeys(r.Context(), p.ID)
	var soon *admission.RotationTooSoonError
	if errors.As(err, &soon) {
		return errRotationTooSoon.Retry(soon.Wait)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"kid":              fmt.Sprintf("%02x", rot.KID),
		"keys":             rot.Keys,
		"rotated_at":       rot.At.UTC().Truncate(time.Second),
		"next_rotation_at": rot.At.Add(a.tickets.TTL()).UTC().Truncate(time.Second),
	})
	return nil
}
