// Package loadgen simulates many listeners of one live room and checks that
// each of them really hears the program at the stream's rate.
//
// Data flow: Run (one worker, in-process) opens Config.Listeners listener
// connections at Config.RampPerSec, each from one of several loopback source
// addresses: a join (POST .../join, ticket) unless a ticket is given, then a
// raw listen.ogg (HTTP/1.1 chunked, Ogg pages) or listen.ws (RFC 6455)
// connection. Once the response head has come, the connection leaves its
// goroutine and the Go runtime: a few receive loops per process (epoll on
// Linux) read each socket as data arrives into one shared buffer and feed
// the bytes to the listener's incremental parser, which keeps only a few
// bytes of framing state (HTTP chunked framing around Ogg pages, or
// WebSocket frames). The loader shares the box with the server it
// measures, so a received chunk must cost it little more than the read.
// The parser reads only the framing it needs to know which media samples
// each read delivered (Ogg granule positions, WebSocket chunk headers) and
// feeds (arrival time, media span) to a Verifier, which models a player:
// it counts stalls (the player would have run out of audio), sequence gaps
// (skipped audio) and the received rate. RunWorkers spreads a
// run over several worker processes (each a `majlis loadgen` reading its
// Config as JSON on stdin) to pass the per-process file limit, merges their
// per-listener results into one Report and samples the CPU and memory of
// the server processes under test from /proc.
//
// Targets are restricted to loopback addresses, and every run is bounded in
// listeners and time.
package loadgen
