package fanout

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"majlis/internal/program"
)

// listenerClientsEnv makes TestListenerClientsProcess a helper process:
// "ADDR,N,tls|plain" opens N listen.ogg listeners that read to the end.
const listenerClientsEnv = "MAJLIS_FANOUT_CLIENTS"

// TestListenerClientsProcess is BenchmarkListenerCPU's client process (it
// does nothing unless started by it, as os/exec's helper processes): the
// listeners' reading and decryption stay out of the measured process.
func TestListenerClientsProcess(t *testing.T) {
	spec := os.Getenv(listenerClientsEnv)
	if spec == "" {
		return
	}
	parts := strings.Split(spec, ",")
	addr, mode := parts[0], parts[2]
	n, _ := strconv.Atoi(parts[1])
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			d := &net.Dialer{Timeout: 5 * time.Second}
			var conn net.Conn
			var err error
			if mode == "tls" { // the benchmark's own server on loopback
				conn, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			} else {
				conn, err = d.Dial("tcp", addr)
			}
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
			fmt.Fprintf(conn, "GET /listen.ogg HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			_, _ = io.Copy(io.Discard, conn)
		})
	}
	wg.Wait()
}

// BenchmarkListenerCPU measures the process CPU one listener-chunk costs
// the server, over the engine (plain) and over TLS terminated here: 500
// listen.ogg listeners in a client process of their own, 250 chunks of two
// 80-byte frames at 40 ms (10 s of real time; b.N is not used: run it with
// -benchtime 1x). Reported as cpu-µs/listener-chunk.
func BenchmarkListenerCPU(b *testing.B) {
	const n, chunks = 500, 250
	for _, mode := range []string{"plain", "tls"} {
		b.Run(mode, func(b *testing.B) {
			start := (*httptest.Server).Start
			if mode == "tls" {
				start = (*httptest.Server).StartTLS
			}
			hh := newHarnessStart(b, Config{}, program.Config{RingChunks: 256}, 0, start)
			cmd := exec.Command(os.Args[0], "-test.run=^TestListenerClientsProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), listenerClientsEnv+"="+hh.srv.Listener.Addr().String()+","+strconv.Itoa(n)+","+mode)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { hh.prog.Close(); _ = cmd.Wait() }() // the listeners end with the program
			hh.publish(3, 80, 0)
			for deadline := time.Now().Add(30 * time.Second); hh.hub.Listeners() < n; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d listeners connected", hh.hub.Listeners(), n)
				}
			}
			time.Sleep(500 * time.Millisecond) // the handshakes' work done
			var r0, r1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			b.ResetTimer()
			hh.publish(chunks, 80, 40*time.Millisecond)
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(n*chunks), "cpu-µs/listener-chunk")
			b.ReportMetric(cpu.Seconds()/b.Elapsed().Seconds(), "cores")
		})
	}
}
