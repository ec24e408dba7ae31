package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// crashChild writes sessions, reports and bans from a few goroutines and
// prints one acknowledgement line after each write returns, until killed.
func crashChild() {
	dir := os.Getenv("PARLEY_STORE_DIR")
	round, _ := strconv.Atoi(os.Getenv("PARLEY_STORE_ROUND"))
	s, err := Open(Config{Dir: dir, Key: keyA, LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	var out sync.Mutex
	ack := func(format string, args ...any) {
		line := fmt.Sprintf(format+"\n", args...)
		out.Lock()
		os.Stdout.WriteString(line) // one write(2) of a short line: atomic on a pipe
		out.Unlock()
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(4)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for j := 0; ; j++ {
				now := time.Now()
				id := fmt.Sprintf("r%d-g%d-j%d", round, g, j) // a label: its token is token(id)
				if err := s.PutSession(skey(s, id), &Session{ID: testID(id), Name: "n", Created: now, LastSeen: now}); err != nil {
					fail(err)
				}
				ack("S %s", id)
				if j%4 == 3 {
					prev := fmt.Sprintf("r%d-g%d-j%d", round, g, j-1)
					ack("d %s", prev) // from here on, either state is right
					if err := s.DeleteSession(skey(s, prev)); err != nil {
						fail(err)
					}
					ack("D %s", prev)
				}
				// Three distinct reporters per target: every third report bans.
				k := j / 3
				target := netip.AddrFrom4([4]byte{198, byte(round), byte(g), byte(k)})
				reporter := netip.AddrFrom4([4]byte{203, byte(round), byte(k), byte(j % 3)})
				_, banned, err := s.Report(now, target, Reporter{Addr: reporter}, "spam")
				if err != nil {
					fail(err)
				}
				ack("R %s %s", target, reporter)
				if banned {
					ack("B %s", target)
				}
			}
		})
	}
	wg.Wait()
}

// lockChild tries to open a database another process holds and prints what
// happened.
func lockChild() {
	start := time.Now()
	_, err := Open(Config{Dir: os.Getenv("PARLEY_STORE_DIR"), Key: keyA, LockTimeout: 300 * time.Millisecond})
	fmt.Printf("locked=%v elapsed=%s err=%v\n", errors.Is(err, ErrLocked), time.Since(start).Round(time.Millisecond), err)
}

func childCmd(ctx context.Context, role, dir string, extra ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PARLEY_STORE_CHILD="+role, "PARLEY_STORE_DIR="+dir)
	cmd.Env = append(cmd.Env, extra...)
	return cmd
}

// TestCrashLoop kills a writing child with SIGKILL at random moments; after
// every reopen each acknowledged write must be there and bbolt's check
// must find nothing.
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop skipped in -short")
	}
	dir := t.TempDir()
	rounds := 20
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	type state struct{ sessions, deleted, reports, bans int }
	var total state
	present := map[string]bool{} // session id -> acknowledged present
	var maybe []string           // sessions whose deletion was not acknowledged
	var reports [][2]netip.Addr
	var bans []netip.Addr
	for round := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := childCmd(ctx, "crash", dir, fmt.Sprintf("PARLEY_STORE_ROUND=%d", round))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			r := bufio.NewReader(stdout)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return // a line without its newline was never acknowledged
				}
				lines <- strings.TrimSuffix(line, "\n")
			}
		}()
		var acked []string
		// Most rounds run a while after the first write; some die at once,
		// possibly inside Open.
		var deadline <-chan time.Time
		if round%5 == 4 {
			deadline = time.After(time.Duration(rng.IntN(40)) * time.Millisecond)
		}
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("round %d: child exited early: %v\n%s", round, cmd.Wait(), stderr.String())
				}
				acked = append(acked, line)
				if len(acked) == 1 && deadline == nil {
					deadline = time.After(time.Duration(20+rng.IntN(300)) * time.Millisecond)
				}
			case <-deadline:
				break read
			case <-ctx.Done():
				t.Fatalf("round %d: no acknowledgement in time\n%s", round, stderr.String())
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for line := range lines { // whatever was written before death
			acked = append(acked, line)
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		cancel()

		for _, line := range acked {
			f := strings.Fields(line)
			switch f[0] {
			case "S":
				present[f[1]] = true
				total.sessions++
			case "d":
				maybe = append(maybe, f[1])
				delete(present, f[1])
			case "D":
				present[f[1]] = false
				total.deleted++
			case "R":
				reports = append(reports, [2]netip.Addr{addr(f[1]), addr(f[2])})
				total.reports++
			case "B":
				bans = append(bans, addr(f[1]))
				total.bans++
			default:
				t.Fatalf("round %d: bad line %q", round, line)
			}
		}

		s, err := Open(Config{Dir: dir, Key: keyA, LockTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		checkDB(t, s)
		now := time.Now()
		for id, want := range present {
			_, err := s.GetSession(skey(s, id))
			if want && err != nil || !want && !errors.Is(err, ErrNotFound) {
				t.Fatalf("round %d: session %s: %v, want present=%v", round, id, err, want)
			}
		}
		for _, id := range maybe {
			if _, err := s.GetSession(skey(s, id)); err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatalf("round %d: session %s: %v", round, id, err)
			}
		}
		err = s.db.View(func(tx *bolt.Tx) error {
			for _, r := range reports {
				if tx.Bucket(bucketReports).Get(reportKey(s, r[0], r[1])) == nil {
					return fmt.Errorf("acknowledged report missing")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, a := range bans {
			if _, banned, err := s.Banned(now, a); err != nil || !banned {
				t.Fatalf("round %d: acknowledged ban missing: %v %v", round, banned, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds: %+v acknowledged writes survived", rounds, total)
	if total.sessions == 0 || total.reports == 0 || total.bans == 0 || total.deleted == 0 {
		t.Fatalf("the child wrote too little to prove anything: %+v", total)
	}
}

// TestSecondProcessLocked: a second process opening the same database gets
// ErrLocked within its lock timeout instead of hanging.
func TestSecondProcessLocked(t *testing.T) {
	s, _ := newStore(t)
	dir := s.cfg.Dir
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := childCmd(ctx, "lock", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "locked=true") || !strings.Contains(string(out), ErrLocked.Error()) {
		t.Fatalf("child output: %s", out)
	}
	// Once the first process closes, the next one gets in.
	s.Close()
	s2 := openT(t, Config{Dir: dir, Key: keyA})
	if err := s2.Ping(); err != nil {
		t.Fatal(err)
	}
}
