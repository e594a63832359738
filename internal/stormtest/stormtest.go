// Package stormtest runs the multi-process refresh tests of the session
// stores: several OS processes (copies of the test binary) share one
// store and hammer sessions whose access tokens have all expired, against
// the hermetic fake network, which counts refreshes and rejects a reused
// refresh token.
//
// A test package that uses it routes child processes in its TestMain:
//
//	func TestMain(m *testing.M) { stormtest.Main(m) }
//
// and runs the tests every store passes ([TestTwoProcesses],
// [TestCrashWhileHoldingLock], [Benchmark]) on a store of its kind.
package stormtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/storeurl"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// envChild carries a child's orders (JSON) from parent to child.
const envChild = "ATOAUTH_STORMTEST_CHILD"

const scope = "atproto transition:generic"

// Config describes one storm.
type Config struct {
	Store    string // storeurl string of the shared store
	Sessions int    // sessions to create (all expired before the storm)
	Procs    int    // child processes (default 2)
	Workers  int    // concurrent requests per process (default 20)
	Rounds   int    // requests per session per process (default 1)
	// PerAccount is how many of the sessions belong to one account
	// (default 1). Above 1, sessions of one account refresh concurrently
	// in one process, which exercises discovery's identity cache too.
	PerAccount int
	// NoLock makes the children's store lock a no-op: the negative control
	// that shows the storm catches a store whose lock does not hold.
	NoLock bool
}

// Result is what a storm did.
type Result struct {
	Sessions  int
	Requests  int           // requests sent by all children
	Failed    int           // requests that did not answer 200
	Refreshes int           // successful refreshes counted by the fake
	Replays   int           // reused refresh tokens seen by the fake
	Lost      int           // sessions missing from the store, or whose stored tokens are dead
	Login     time.Duration // creating the sessions
	Storm     time.Duration // from "go" to the last child's answer
	Errors    []string      // a few failure messages
}

// orders is what a child is told to do.
type orders struct {
	Mode    string        `json:"mode"` // "storm" or "crash"
	Store   string        `json:"store"`
	PLC     string        `json:"plc"`
	PDS     string        `json:"pds"`
	Workers int           `json:"workers"`
	Rounds  int           `json:"rounds"`
	Session string        `json:"session,omitempty"` // crash: the session to refresh
	Lease   time.Duration `json:"lease,omitempty"`   // crash: the lease the lock is taken with
	NoLock  bool          `json:"nolock,omitempty"`
}

// report is a child's answer, the last line of its stdout.
type report struct {
	Requests int      `json:"requests"`
	Failed   int      `json:"failed"`
	Errors   []string `json:"errors"`
}

// IsChild tells whether this process is a storm child.
func IsChild() bool { return os.Getenv(envChild) != "" }

func newClient(o *orders, store atoauth.Store, logger *slog.Logger) (*atoauth.Client, error) {
	cfg := atoauth.LoopbackConfig(scope)
	cfg.PLCURL = o.PLC
	cfg.HandleResolver = o.PDS
	cfg.AllowInsecureDevelopment = true
	cfg.Store = store
	cfg.Logger = logger
	return atoauth.NewClient(cfg)
}

// parent starts the network of a test with orders o (and names it in
// them), and opens the parent's own client on o.Store; t's cleanup closes
// them.
func parent(t testing.TB, o *orders) (*atoauthtest.Network, atoauth.Store, *atoauth.Client) {
	t.Helper()
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{Logger: slog.New(slog.DiscardHandler)})
	o.PLC, o.PDS = n.PLC.URL, n.PDS.URL
	store, err := storeurl.Open(context.Background(), o.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	client, err := newClient(o, store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return n, store, client
}

// Run creates cfg.Sessions sessions through a fake network (Start,
// Approve, Callback), makes every access token expire, then starts
// cfg.Procs children that each send cfg.Rounds requests per session from
// cfg.Workers goroutines, all at once, and counts what happened.
func Run(t testing.TB, cfg Config) Result {
	t.Helper()
	if cfg.Procs <= 0 {
		cfg.Procs = 2
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 20
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 1
	}
	if cfg.PerAccount <= 0 {
		cfg.PerAccount = 1
	}
	o := &orders{Mode: "storm", Store: cfg.Store, Workers: cfg.Workers, Rounds: cfg.Rounds, NoLock: cfg.NoLock}
	n, store, client := parent(t, o)

	res := Result{Sessions: cfg.Sessions}
	start := time.Now()
	ids := login(t, n, client, cfg.Sessions, cfg.PerAccount)
	res.Login = time.Since(start)
	n.ExpireAccessTokens()
	before := n.Counters()

	children := make([]*child, cfg.Procs)
	for i := range children {
		children[i] = startChild(t, o)
	}
	for _, c := range children {
		c.waitFor(t, "READY")
	}
	start = time.Now()
	for _, c := range children {
		c.send(t, "GO")
	}
	for _, c := range children {
		r := c.result(t)
		res.Requests += r.Requests
		res.Failed += r.Failed
		for _, e := range r.Errors {
			if len(res.Errors) < 10 {
				res.Errors = append(res.Errors, e)
			}
		}
	}
	res.Storm = time.Since(start)

	res.Refreshes, res.Replays, res.Lost = tally(n, store, before, ids)
	return res
}

// tally counts the refreshes and the refresh token replays since before,
// and the sessions of ids missing from store or whose stored tokens are
// dead.
func tally(n *atoauthtest.Network, store atoauth.Store, before atoauthtest.Counters, ids []string) (refreshes, replays, lost int) {
	after := n.Counters()
	for _, id := range ids {
		d, err := store.GetSession(context.Background(), id)
		if err != nil || !n.AccessTokenValid(d.AccessToken) || !n.RefreshTokenValid(d.RefreshToken) {
			lost++
		}
	}
	return after.Refreshes - before.Refreshes, after.RefreshReplays - before.RefreshReplays, lost
}

// login creates count sessions, perAccount per account, four at a time.
func login(t testing.TB, n *atoauthtest.Network, c *atoauth.Client, count, perAccount int) []string {
	t.Helper()
	accounts := make([]syntax.DID, (count+perAccount-1)/perAccount)
	handles := make([]string, len(accounts))
	for i := range accounts {
		handles[i] = fmt.Sprintf("user%d.test", i)
		accounts[i] = n.CreateAccount(handles[i])
	}
	ids := make([]string, count)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				a := i % len(accounts)
				auth, err := c.Start(ctx, handles[a], nil)
				if err != nil {
					errs <- fmt.Errorf("Start: %w", err)
					return
				}
				redirect, err := n.Approve(ctx, auth.URL, accounts[a])
				if err != nil {
					errs <- fmt.Errorf("Approve: %w", err)
					return
				}
				s, err := c.Callback(ctx, redirect.Query(), &atoauth.CallbackOptions{State: auth.State})
				if err != nil {
					errs <- fmt.Errorf("Callback: %w", err)
					return
				}
				ids[i] = s.ID()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("logging in: %v", err)
	}
	return ids
}

// child is a running child process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *atoauthtest.Buffer
	done   chan struct{}
}

func startChild(t testing.TB, o *orders) *child {
	t.Helper()
	spec, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envChild+"="+string(spec))
	c := &child{cmd: cmd, lines: make(chan string, 16), stderr: &atoauthtest.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		_ = cmd.Process.Kill() // no-op if it has exited
		_ = cmd.Wait()
	})
	return c
}

const childTimeout = 10 * time.Minute

func (c *child) next(t testing.TB) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			_ = c.cmd.Wait()
			t.Fatalf("child %d exited (%v); its stderr:\n%s", c.cmd.Process.Pid, c.cmd.ProcessState, c.stderrTail())
		}
		return line
	case <-time.After(childTimeout):
		t.Fatalf("child %d did not answer in %v; its stderr:\n%s", c.cmd.Process.Pid, childTimeout, c.stderrTail())
	}
	return ""
}

func (c *child) waitFor(t testing.TB, want string) {
	t.Helper()
	if got := c.next(t); got != want {
		t.Fatalf("child said %q, want %q; its stderr:\n%s", got, want, c.stderrTail())
	}
}

func (c *child) send(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (c *child) result(t testing.TB) report {
	t.Helper()
	var r report
	if err := json.Unmarshal([]byte(c.next(t)), &r); err != nil {
		t.Fatalf("child's report: %v", err)
	}
	return r
}

// stderrTail is the end of what the child wrote on stderr (warnings and
// errors), for a failure message.
func (c *child) stderrTail() string {
	s := c.stderr.String()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// ChildMain runs a child's orders and returns its exit code.
func ChildMain() int {
	var o orders
	if err := json.Unmarshal([]byte(os.Getenv(envChild)), &o); err != nil {
		fmt.Fprintln(os.Stderr, "stormtest child:", err)
		return 2
	}
	var err error
	switch o.Mode {
	case "storm":
		err = childStorm(&o)
	case "crash":
		err = childCrash(&o)
	default:
		err = fmt.Errorf("unknown mode %q", o.Mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stormtest child:", err)
		return 1
	}
	return 0
}

func childStorm(o *orders) error {
	ctx := context.Background()
	store, err := storeurl.Open(ctx, o.Store, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	var shared atoauth.Store = store
	if o.NoLock {
		shared = noLock{store}
	}
	client, err := newClient(o, shared, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	infos, err := client.Sessions(ctx, "")
	if err != nil {
		return err
	}
	sessions := make([]*atoauth.Session, len(infos))
	for i, info := range infos {
		if sessions[i], err = client.Session(ctx, info.ID); err != nil {
			return err
		}
	}
	fmt.Println("READY")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for GO: %w", err)
	}

	var rep report
	var mu sync.Mutex
	var next atomic.Int64
	total := len(sessions) * o.Rounds
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				err := getSession(sessions[i%len(sessions)])
				mu.Lock()
				rep.Requests++
				if err != nil {
					rep.Failed++
					if len(rep.Errors) < 5 {
						rep.Errors = append(rep.Errors, err.Error())
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b, _ := json.Marshal(rep)
	fmt.Println(string(b))
	return nil
}

// getSession asks the PDS who the session is: a request that needs a
// valid access token.
func getSession(s *atoauth.Session) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.PDS()+"/xrpc/com.atproto.server.getSession", nil)
	if err != nil {
		return err
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d %s", resp.StatusCode, body)
	}
	return nil
}

// noLock is a store whose refresh lock excludes nobody.
type noLock struct{ atoauth.Store }

func (noLock) LockSession(context.Context, string, time.Duration) (func(), error) {
	return func() {}, nil
}

// hangingStore takes the refresh lock with a short lease, says LOCKED and
// then hangs: a process stuck inside a refresh, holding the lock, before
// it has spent the refresh token.
type hangingStore struct {
	atoauth.Store
	lease time.Duration
}

func (h hangingStore) LockSession(ctx context.Context, id string, _ time.Duration) (func(), error) {
	unlock, err := h.Store.LockSession(ctx, id, h.lease)
	if err != nil {
		return nil, err
	}
	fmt.Println("LOCKED")
	_ = unlock // never released: the process is killed holding the lock
	select {}
}

func childCrash(o *orders) error {
	ctx := context.Background()
	store, err := storeurl.Open(ctx, o.Store, nil)
	if err != nil {
		return err
	}
	client, err := newClient(o, hangingStore{Store: store, lease: o.Lease}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	s, err := client.Session(ctx, o.Session)
	if err != nil {
		return err
	}
	return s.Refresh(ctx) // never returns: the store hangs in LockSession
}

// CrashResult is what the crash test saw.
type CrashResult struct {
	Waited    time.Duration // from the SIGKILL until the survivor's request succeeded
	Refreshes int
	Replays   int
	Lost      bool
}

// Crash logs in one session, expires its access token, and starts a child
// that begins refreshing it, takes the store's refresh lock with the given
// lease, and hangs; it is then killed with SIGKILL. This process (another
// instance of the app, with its own Client and store handle) then uses the
// session: its refresh must wait for the dead holder's lease and then
// succeed.
func Crash(t testing.TB, storeSpec string, lease time.Duration) CrashResult {
	t.Helper()
	ctx := context.Background()
	o := &orders{Mode: "crash", Store: storeSpec, Lease: lease}
	n, store, client := parent(t, o)
	ids := login(t, n, client, 1, 1)
	n.ExpireAccessTokens()
	before := n.Counters()

	o.Session = ids[0]
	c := startChild(t, o)
	c.waitFor(t, "LOCKED")
	if err := c.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-c.done
	if err := c.cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}

	s, err := client.Session(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := getSession(s); err != nil {
		t.Fatalf("the surviving process: %v", err)
	}
	res := CrashResult{Waited: time.Since(killed)}
	var lost int
	res.Refreshes, res.Replays, lost = tally(n, store, before, ids)
	res.Lost = lost > 0
	return res
}

// Check fails t unless r shows one refresh per session, no replay, no
// failed request and no lost session.
func Check(t testing.TB, r Result) {
	t.Helper()
	if r.Refreshes != r.Sessions || r.Replays != 0 || r.Failed != 0 || r.Lost != 0 || r.Requests == 0 {
		t.Errorf("storm: %d sessions, %d requests: %d refreshes (want %d), %d replays, %d failed, %d lost; errors: %s",
			r.Sessions, r.Requests, r.Refreshes, r.Sessions, r.Replays, r.Failed, r.Lost, strings.Join(r.Errors, " | "))
	}
}
