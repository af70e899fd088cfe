// Package wsframe is RFC 6455 framing, by hand, for the code that writes
// and reads WebSocket frames without a library: the program pre-frames each
// chunk once as a server frame (AppendHeader), the fan-out engine parses its
// listeners' input and answers pings and closes (Parser, Header.Check,
// AppendFrame, CloseFrame), the load generator parses the server's frames
// and answers with masked pongs (Parser, AppendMasked), and the listen
// handshake computes its Sec-WebSocket-Accept (AcceptKey).
//
// Data flow through a Parser: the caller feeds the bytes of a connection
// in whatever pieces they arrive. ReadHeader gathers the bytes of one frame
// header (at most MaxHeaderLen, the only bytes the parser keeps); once it
// reports a complete header, Payload hands back the frame's payload bytes
// as they pass, without copying them, and with their offset in the payload
// (for Unmask). A parser is 24 bytes, so one per connection is cheap.
//
// Connections that want a full WebSocket implementation (the events
// stream, an edge's dial to its origin) use github.com/coder/websocket.
package wsframe
