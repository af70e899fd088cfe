package server

import (
	"context"
	"errors"

	"majlis/internal/room"
	"majlis/internal/web"
)

// roomPreviews gives the web app the room domain's previews of its rooms'
// links (web.RoomPreviews): the domain decides what a link says, the web
// app only writes it into the page.
type roomPreviews struct{ rooms *room.Service }

func (p roomPreviews) RoomPreview(ctx context.Context, id string) (web.RoomPreview, bool, error) {
	v, err := p.rooms.Preview(ctx, id)
	if errors.Is(err, room.ErrRoomNotFound) {
		return web.RoomPreview{}, false, nil
	}
	if err != nil {
		return web.RoomPreview{}, false, err
	}
	return web.RoomPreview{Title: v.Title, Description: v.Description, Host: v.Host, State: v.State, StartsAt: v.StartsAt}, true, nil
}
