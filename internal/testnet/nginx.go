package testnet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NginxPath returns Debian's nginx binary: $ATOAUTH_NGINX, or nginx on
// PATH or in /usr/sbin.
func NginxPath() (string, error) {
	if p := os.Getenv("ATOAUTH_NGINX"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("testnet: nginx not found (apt-get install nginx-light, or set ATOAUTH_NGINX)")
}

// StartNginx runs nginx in the foreground on a free loopback port, in a
// prefix directory of its own, with httpBlock's directives in its http
// block (maps, say) and server's in its one server block (locations;
// StartNginx adds the listen line); it stops when t ends. It returns the
// base URL, http://127.0.0.1:<port>.
func StartNginx(t testing.TB, httpBlock, server string) string {
	t.Helper()
	bin, err := NginxPath()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nginx binds it; a race with another process is unlikely and fails loudly
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // worker processes may run as another user
		t.Fatal(err)
	}
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	conf := fmt.Sprintf(`%sworker_processes 1;
error_log %[2]s/logs/error.log info;
pid %[2]s/nginx.pid;
events { worker_connections 256; }
http {
	access_log %[2]s/logs/access.log;
	client_body_temp_path %[2]s/tmp/body;
	proxy_temp_path %[2]s/tmp/proxy;
	fastcgi_temp_path %[2]s/tmp/fastcgi;
	uwsgi_temp_path %[2]s/tmp/uwsgi;
	scgi_temp_path %[2]s/tmp/scgi;
%[5]s
	server {
		listen 127.0.0.1:%[3]d;
		server_name 127.0.0.1;
%[4]s
	}
}
`, user, dir, port, server, httpBlock)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-g", "daemon off;")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			logs, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			t.Logf("nginx output:\n%s\nnginx error.log:\n%s\nnginx.conf:\n%s", out.String(), logs, conf)
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-done:
			logs, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			t.Fatalf("nginx exited at start: %v\n%s\n%s", err, out.String(), logs)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond) // polling a port another process opens
	}
}
