// Package testnet runs the local reference network (the official PLC
// directory and PDS from the npm registry, see testenv/) for end-to-end
// tests, and drives the PDS's own sign-in and consent pages in headless
// Chromium.
//
// A test binary starts the network once, from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testnet.Main(m)) }
//
// and each test asks for it with Get(t). The network is used when
// ATOAUTH_E2E=1 or CI=true; ATOAUTH_TESTNET=<network.json> attaches to a
// network that is already running (testenv/run.sh). Otherwise the
// end-to-end tests skip, saying how to enable them. In CI they never skip:
// a network that cannot start fails the run with the reason.
//
// A network started here listens on free ports (not testenv's defaults
// 2582-2584, which may be taken, e.g. by a testenv/run.sh started by hand);
// tests find its URLs in [Network]. ATOAUTH_TESTENV_PLC_PORT,
// ATOAUTH_TESTENV_PDS_PORT and ATOAUTH_TESTENV_APPVIEW_PORT, in the
// environment or [Options.Env], ask for given ports instead; the network
// then fails to start, naming the port and what holds it, when one is taken.
package testnet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Account is a test account of the network.
type Account struct {
	Name        string `json:"name"`
	Handle      string `json:"handle"`
	DID         string `json:"did"`
	Password    string `json:"password"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
}

// Network describes a running reference network (testenv's network.json).
type Network struct {
	PDSURL      string    `json:"pds_url"`
	PDSDID      string    `json:"pds_did"`
	PLCURL      string    `json:"plc_url"`
	Issuer      string    `json:"oauth_issuer"`
	AppViewURL  string    `json:"appview_url"`
	AppViewDID  string    `json:"appview_did"`
	TokenMaxAge float64   `json:"token_max_age_seconds"`
	Accounts    []Account `json:"accounts"`
	// ConfidentialClientHost is a name the network's services resolve to
	// 127.0.0.1 by themselves (no hosts entry needed): a test serves a
	// confidential web client at https://<it>/ on port 443.
	ConfidentialClientHost string `json:"confidential_client_host"`
	// TestCA is the CA the network's services trust (NODE_EXTRA_CA_CERTS),
	// nil when it was started without one.
	TestCA *struct {
		Cert string `json:"cert"`
		Key  string `json:"key"`
	} `json:"test_ca"`
}

// Account returns the account with the given short name ("alice", "bob").
func (n *Network) Account(name string) Account {
	for _, a := range n.Accounts {
		if a.Name == name || a.Handle == name {
			return a
		}
	}
	panic("testnet: no account " + name)
}

// Options configures Start.
type Options struct {
	// Env adds environment variables for the network process, such as
	// ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS.
	Env []string
	// Args adds arguments to network.mjs (e.g. "--appview").
	Args []string
	// Log receives the network's stderr; nil discards it.
	Log io.Writer
}

// RepoRoot finds the module root (where testenv/ lives).
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("testnet: cannot locate the source tree")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Running is a network started by Start.
type Running struct {
	*Network
	cmd   *exec.Cmd
	done  chan error
	caDir string // the CA made for this network, removed by Stop
}

// Start installs (if needed) and starts the network with testenv/run.sh,
// waits for it to be ready (at most 3 minutes, including a first install)
// and returns it. Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Running, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("atoauth-testnet-%d.json", os.Getpid()))
	args := append([]string{"--out", out}, opts.Args...)
	cmd := exec.Command(filepath.Join(root, "testenv", "run.sh"), args...)
	cmd.Dir = filepath.Join(root, "testenv")
	env := networkEnv(os.Environ(), opts.Env)
	var caDir string
	if !hasEnv(env, "NODE_EXTRA_CA_CERTS") {
		// A CA the services trust, for tests that serve https.
		if caDir, err = os.MkdirTemp("", "atoauth-testnet-ca-"); err != nil {
			return nil, err
		}
		if _, err := GenerateCA(caDir); err != nil {
			os.RemoveAll(caDir)
			return nil, err
		}
		env = append(env, "NODE_EXTRA_CA_CERTS="+filepath.Join(caDir, CACertFile), "ATOAUTH_TESTENV_CA_KEY="+filepath.Join(caDir, CAKeyFile))
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // one group, stopped together
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	var tail tailBuffer
	cmd.Stderr = io.MultiWriter(logw, &tail)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(caDir)
		return nil, fmt.Errorf("testnet: starting testenv/run.sh: %w", err)
	}
	r := &Running{cmd: cmd, done: make(chan error, 1), caDir: caDir}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logw, line)
			if p, ok := strings.CutPrefix(line, "READY "); ok {
				ready <- p
			}
		}
		r.done <- cmd.Wait()
	}()
	timer := time.NewTimer(3 * time.Minute)
	defer timer.Stop()
	select {
	case p := <-ready:
		n, err := Load(p)
		if err != nil {
			r.Stop()
			return nil, err
		}
		r.Network = n
		return r, nil
	case err := <-r.done:
		os.RemoveAll(caDir)
		return nil, fmt.Errorf("testnet: the network exited before it was ready (%v); its last output:\n%s", err, tail.String())
	case <-timer.C:
		r.Stop()
		return nil, fmt.Errorf("testnet: the network was not ready after 3 minutes; its last output:\n%s", tail.String())
	case <-ctx.Done():
		r.Stop()
		return nil, ctx.Err()
	}
}

// hasEnv tells whether env sets k to a non-empty value.
func hasEnv(env []string, k string) bool {
	set := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, k+"="); ok {
			set = v != "" // the last one wins, as in exec.Cmd
		}
	}
	return set
}

// portVars are network.mjs's port settings; "0" means any free port.
var portVars = []string{"ATOAUTH_TESTENV_PLC_PORT", "ATOAUTH_TESTENV_PDS_PORT", "ATOAUTH_TESTENV_APPVIEW_PORT"}

// networkEnv is the environment of the network process: base, then extra,
// then "<port var>=0" for each port variable neither sets (to a non-empty
// value), so that the network picks free ports.
func networkEnv(base, extra []string) []string {
	env := append(append([]string(nil), base...), extra...)
	for _, k := range portVars {
		if !hasEnv(env, k) {
			env = append(env, k+"=0")
		}
	}
	return env
}

// Stop ends the network (SIGTERM to its process group, SIGKILL after 20 s)
// and waits for it.
func (r *Running) Stop() error {
	if r.caDir != "" {
		defer os.RemoveAll(r.caDir)
	}
	if r.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-r.done:
		return err
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		return <-r.done
	}
}

// Load reads a network.json file.
func Load(path string) (*Network, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("testnet: %s: %w", path, err)
	}
	if n.PDSURL == "" || n.PLCURL == "" || len(n.Accounts) == 0 {
		return nil, fmt.Errorf("testnet: %s does not describe a network", path)
	}
	return &n, nil
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = t.buf[len(t.buf)-8<<10:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// Enabled reports whether end-to-end tests should run, and whether they
// are required (CI).
func Enabled() (run, required bool) {
	ci, _ := boolEnv("CI")
	e2e, _ := boolEnv("ATOAUTH_E2E")
	attach := os.Getenv("ATOAUTH_TESTNET") != ""
	return ci || e2e || attach, ci
}

func boolEnv(k string) (bool, bool) {
	v := strings.ToLower(strings.TrimSpace(os.Getenv(k)))
	switch v {
	case "1", "true", "yes":
		return true, true
	case "":
		return false, false
	}
	return false, true
}

var (
	current *Network
	failure error
	skipMsg string
)

// SkipMessage is the line printed when end-to-end tests are skipped.
const SkipMessage = "end-to-end tests skipped: set ATOAUTH_E2E=1 (or run ./scripts/test) to start the local reference network, or ATOAUTH_TESTNET=<network.json> to use a running one"

// Main starts the network (or attaches to one) for the test binary, runs
// the tests and stops it. It returns the exit code for os.Exit.
func Main(m *testing.M, opts Options) int {
	run, required := Enabled()
	if !run {
		skipMsg = SkipMessage
		fmt.Fprintln(os.Stderr, SkipMessage)
		return m.Run()
	}
	if p := os.Getenv("ATOAUTH_TESTNET"); p != "" {
		current, failure = Load(p)
		return m.Run()
	}
	if opts.Log == nil && os.Getenv("ATOAUTH_TESTNET_LOG") != "" {
		opts.Log = os.Stderr
	}
	start := time.Now()
	r, err := Start(context.Background(), opts)
	if err != nil {
		failure = err
		if required {
			fmt.Fprintln(os.Stderr, err)
		}
		return m.Run()
	}
	fmt.Fprintf(os.Stderr, "testnet: reference network ready in %.1fs (PDS %s)\n", time.Since(start).Seconds(), r.PDSURL)
	current = r.Network
	code := m.Run()
	if err := r.Stop(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "testnet: stopping:", err)
		}
	}
	return code
}

// Get returns the network, skipping t when end-to-end tests are off and
// failing it when the network could not start.
func Get(t testing.TB) *Network {
	t.Helper()
	if skipMsg != "" {
		t.Skip(skipMsg)
	}
	if failure != nil {
		t.Fatalf("the reference network is not available: %v", failure)
	}
	if current == nil {
		t.Fatal("testnet: Main was not called from TestMain")
	}
	return current
}
