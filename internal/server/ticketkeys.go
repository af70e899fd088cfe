package server

import (
	"context"
	"fmt"
	"log/slog"

	"majlis/internal/admission"
	"majlis/internal/audit"
	"majlis/internal/cluster"
)

// auditRotateKeys is the audit log's action of a ticket key rotation (docs/audit.md).
const auditRotateKeys = "admission.rotate_keys"

// ticketKeys is an origin's live ticket key rotation (httpapi.KeyRotator):
// the key file and the signer turn (admission.KeyFile), the edges are told
// at once over the cluster, and the rotation is recorded.
type ticketKeys struct {
	file  *admission.KeyFile
	cast  *cluster.KeyBroadcast // nil: no cluster
	audit audit.Recorder
	log   *slog.Logger
}

// RotateTicketKeys rotates the keys for actor. Once the keys turned, a
// failure to record it stands as audit.ErrUnavailable (docs/audit.md).
func (k *ticketKeys) RotateTicketKeys(ctx context.Context, actor string) (admission.Rotation, error) {
	rot, err := k.file.Rotate()
	if err != nil {
		return rot, err
	}
	if k.cast != nil {
		k.cast.Send()
	}
	kid := fmt.Sprintf("%02x", rot.KID)
	k.log.Info("ticket keys rotated", "kid", kid, "keys", rot.Keys, "actor", actor)
	if _, err := k.audit.Record(ctx, audit.Entry{Actor: actor, Action: auditRotateKeys, Target: "ticket_key:" + kid,
		Detail: map[string]any{"keys": rot.Keys}}); err != nil {
		return rot, fmt.Errorf("ticket keys rotated (kid %s): %w", kid, audit.Unavailable(err))
	}
	return rot, nil
}
