//go:build linux

package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"unsafe"
)

// Browser tests run Chromium in a network namespace of their own that has
// only a loopback interface (`unshare -n`), so the browser cannot reach
// anything but the test server whatever it tries (component updates, safe
// browsing, DNS). The namespace must hold the server too (a new namespace has
// its own 127.0.0.1), so the test re-executes itself, only this test, inside
// `unshare -n` (`unshare -rn`, a user namespace, when not root), brings `lo`
// up and runs there. Where unshare is missing or not permitted (some
// containers forbid namespaces) it runs in the current namespace, after
// logging why; MAJLIS_BROWSER_NETNS=0 asks for that explicitly.
const netnsEnv = "MAJLIS_BROWSER_NETNS"

// inLoopbackNetns reports whether the caller should return: the test ran in
// a child process inside the namespace (and its result is this test's). When
// it returns false the test goes on in this process.
func inLoopbackNetns(t *testing.T) bool {
	t.Helper()
	switch os.Getenv(netnsEnv) {
	case "1":
		if err := loopbackUp(); err != nil {
			t.Fatalf("bring lo up in the test namespace: %v", err)
		}
		return false
	case "0":
		return false
	}
	if chromiumPath() == "" {
		return false // newBrowser skips or fails with the reason
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Logf("no unshare: running the browser in the current network namespace")
		return false
	}
	args := []string{"-n"}
	if os.Getuid() != 0 {
		args = []string{"-r", "-n"}
	}
	if out, err := exec.Command(unshare, append(args, "true")...).CombinedOutput(); err != nil {
		t.Logf("unshare %v not permitted (%v: %s): running the browser in the current network namespace", args, err, bytes.TrimSpace(out))
		return false
	}
	args = append(args, "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=3m")
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("ran inside `unshare %v` (loopback only):\n%s", args[:len(args)-6], out.String())
	if err != nil {
		t.Fatalf("browser test in the loopback-only namespace: %v", err)
	}
	if bytes.Contains(out.Bytes(), []byte("--- SKIP")) {
		t.Skip("skipped in the namespace")
	}
	return true
}

// loopbackUp sets IFF_UP on lo (a new network namespace starts with it down),
// with the SIOCGIFFLAGS/SIOCSIFFLAGS ioctls on a throwaway socket.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr [40]byte // struct ifreq: name[16], then a union holding short flags
	copy(ifr[:], "lo")
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return fmt.Errorf("SIOCGIFFLAGS: %w", e)
	}
	flags := binary.NativeEndian.Uint16(ifr[16:])
	binary.NativeEndian.PutUint16(ifr[16:], flags|syscall.IFF_UP|syscall.IFF_RUNNING)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return fmt.Errorf("SIOCSIFFLAGS: %w", e)
	}
	return nil
}
