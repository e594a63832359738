package safehttp_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/atoauth/atoauth/safehttp"
)

func ExampleNewClient() {
	// A local server stands in for a host named by a handle or DID document.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer srv.Close()

	// The production client refuses it: it is http and on loopback.
	_, err := safehttp.NewClient(safehttp.Options{}).Get(srv.URL)
	fmt.Println("production:", errors.Is(err, safehttp.ErrInsecureURL))

	// A development network may opt in.
	dev := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true})
	resp, err := dev.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, err := safehttp.ReadBody(resp, 1024)
	fmt.Printf("development: %s %v\n", body, err)
	// Output:
	// production: true
	// development: hello <nil>
}

func ExampleReadBody() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a response that is much longer than the caller accepts")
	}))
	defer srv.Close()

	resp, err := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true}).Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close() // ReadBody does not close the body.
	_, err = safehttp.ReadBody(resp, 16)
	fmt.Println(errors.Is(err, safehttp.ErrTooLarge))
	// Output: true
}

func ExampleIsPublicAddr() {
	for _, s := range []string{"1.1.1.1", "10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "2606:4700:4700::1111", "fd00::1"} {
		fmt.Println(s, safehttp.IsPublicAddr(netip.MustParseAddr(s)))
	}
	// Output:
	// 1.1.1.1 true
	// 10.0.0.1 false
	// 169.254.169.254 false
	// ::ffff:127.0.0.1 false
	// 2606:4700:4700::1111 true
	// fd00::1 false
}
