package main

import (
	"context"

	"majlis/internal/server"
)

func serveEdge(ctx context.Context, cfg server.EdgeConfig) error {
	srv, err := server.NewEdge(cfg)
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}
