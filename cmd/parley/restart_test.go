package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/proto"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// parleyBinary builds the real binary once per test run.
func parleyBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "parley")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePort asks the kernel for a port that is free now; the restarted
// process must listen where the clients reconnect.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type proc struct {
	cmd  *exec.Cmd
	logs *strings.Builder
	mu   sync.Mutex
	done chan struct{}
}

// startParley runs the binary and waits until it answers.
func startParley(t *testing.T, args ...string) *proc {
	t.Helper()
	return startParleyEnv(t, []string{"PARLEY_KEY="}, args...)
}

// startParleyEnv runs the binary with more environment.
func startParleyEnv(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(parleyBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &strings.Builder{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

func serverArgs(dataDir string, port int) []string {
	return []string{
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--data-dir", dataDir,
		"--turn-listen", "127.0.0.1:0",
		"--turn-public-ip", "127.0.0.1",
		"--admin-listen", "off",
		"--resume-window", "30s",
	}
}

// loopbackPeer is a WebRTC config for Go peers on this host.
func loopbackPeer() *client.WebRTCConfig {
	return &client.WebRTCConfig{SettingEngine: client.LoopbackEngine()}
}

// storedInChat asks /api/me whether the store holds a session in a chat.
func storedInChat(t testing.TB, base, token string) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/me", nil)
	req.AddCookie(&http.Cookie{Name: signaling.CookieName, Value: token})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var me struct {
		Session *struct {
			InChat bool `json:"inChat"`
		} `json:"session"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&me)
	return me.Session != nil && me.Session.InChat
}

// After kill -9 and a restart on the same data, the pair is still there:
// both Go peers reconnect with backoff, are matched again with resumed
// true, and open their data channel again.
func TestResumeAfterKill9Restart(t *testing.T) {
	dataDir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	first := startParley(t, serverArgs(dataDir, port)...)
	waitHTTP(t, base+"/api/stats")

	dial := func() *client.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, client.Config{URL: fmt.Sprintf("ws://127.0.0.1:%d/ws", port), WebRTC: loopbackPeer(), Reconnect: true, MaxBackoff: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	if err := a.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, "queued")
	if err := b.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	pair := waitEvent(t, a, "matched").Msg.Pair
	_ = pair
	waitEvent(t, a, client.EventOpen)
	waitEvent(t, b, client.EventOpen)
	// Writes are acknowledged off the request path; wait until both halves
	// of the pair are in the store before pulling the plug.
	deadline := time.Now().Add(10 * time.Second)
	for !storedInChat(t, base, a.Token()) || !storedInChat(t, base, b.Token()) {
		if time.Now().After(deadline) {
			t.Fatal("the pair never reached the store")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done

	second := startParley(t, serverArgs(dataDir, port)...)
	waitEvent(t, a, client.EventReconnected)
	waitEvent(t, b, client.EventReconnected)
	ma := waitEvent(t, a, "matched").Msg
	mb := waitEvent(t, b, "matched").Msg
	if ma.Pair != pair || mb.Pair != pair || !*ma.Resumed || !*mb.Resumed {
		t.Fatalf("after restart: pairs %s/%s (was %s), resumed %v/%v", ma.Pair, mb.Pair, pair, *ma.Resumed, *mb.Resumed)
	}
	waitEvent(t, a, client.EventOpen)
	waitEvent(t, b, client.EventOpen)
	if err := a.Send("after the crash"); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, b, client.EventText); ev.Text != "after the crash" {
		t.Fatalf("got %q", ev.Text)
	}
	if !strings.Contains(second.output(), "chat restored from the store") {
		t.Errorf("no restore line in the log:\n%s", second.output())
	}
}

// SIGTERM closes every socket with 1012 and the process exits soon after.
func TestSIGTERMClosesWith1012(t *testing.T) {
	port := freePort(t)
	p := startParley(t, serverArgs(t.TempDir(), port)...)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/api/stats", port))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: fmt.Sprintf("ws://127.0.0.1:%d/ws", port)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, c, client.EventClosed); ev.Code != 1012 {
		t.Fatalf("closed with %d, want 1012", ev.Code)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not exit")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.output())
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// After kill -9 and a restart, a group room comes back as one-to-one chats
// do: every member reconnects, is told the room again, and the mesh forms
// again.
func TestRoomResumeAfterKill9Restart(t *testing.T) {
	dataDir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	first := startParley(t, serverArgs(dataDir, port)...)
	waitHTTP(t, base+"/api/stats")
	var cs []*client.Client
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, client.Config{URL: fmt.Sprintf("ws://127.0.0.1:%d/ws", port), WebRTC: loopbackPeer(), Reconnect: true, MaxBackoff: time.Second})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	if err := cs[0].CreateRoom(client.Room{Name: "After the crash", MemberName: "A"}); err != nil {
		t.Fatal(err)
	}
	secret := waitEvent(t, cs[0], proto.TypeRoomCreated).Msg.Secret
	room := waitEvent(t, cs[0], proto.TypeRoomJoined).Msg.Room
	for i, c := range cs[1:] {
		if err := c.JoinRoom(secret, fmt.Sprintf("M%d", i), false); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, c, proto.TypeRoomJoined)
	}
	for _, c := range cs {
		for range 2 {
			waitEvent(t, c, client.EventOpen)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range cs {
		for !storedInChat(t, base, c.Token()) {
			if time.Now().After(deadline) {
				t.Fatal("the room never reached the store")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A room is always written no later than the session records that name
	// it (signaling's persister): the room is in the store too.

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	second := startParley(t, serverArgs(dataDir, port)...)
	for _, c := range cs {
		waitEvent(t, c, client.EventReconnected)
		if m := waitEvent(t, c, proto.TypeRoomJoined).Msg; m.Room != room || m.RoomName != "After the crash" {
			t.Fatalf("after the restart: %+v", m)
		}
	}
	for _, c := range cs {
		for range 2 {
			waitEvent(t, c, client.EventOpen)
		}
	}
	if err := cs[2].Send("we are back"); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs[:2] {
		if ev := waitEvent(t, c, client.EventText); ev.Text != "we are back" {
			t.Fatalf("got %q", ev.Text)
		}
	}
	if !strings.Contains(second.output(), "room restored from the store") {
		t.Errorf("no restore line in the log:\n%s", second.output())
	}
}
