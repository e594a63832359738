package scope

import (
	"strconv"
	"strings"
)

// isNSID reports whether s is a syntactically valid NSID (atproto NSID
// spec): at least three dot-separated segments, a reversed domain
// authority and a name of letters and digits, 317 characters at most.
func isNSID(s string) bool {
	if len(s) < 5 || len(s) > 253+1+63 {
		return false
	}
	segs := strings.Split(s, ".")
	if len(segs) < 3 {
		return false
	}
	for i, seg := range segs {
		if len(seg) == 0 || len(seg) > 63 {
			return false
		}
		last := i == len(segs)-1
		if (i == 0 || last) && !isLetter(seg[0]) {
			return false
		}
		for j := 0; j < len(seg); j++ {
			c := seg[j]
			if !isAlnum(c) && (c != '-' || last) {
				return false
			}
		}
		if seg[0] == '-' || seg[len(seg)-1] == '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isServiceRef reports whether s is an absolute DID reference to a
// service, "did#service_id", whose DID is a did:plc or a did:web without
// path or (except for localhost) port (atproto permission spec, "aud").
func isServiceRef(s string) bool {
	did, frag, ok := strings.Cut(s, "#")
	if !ok || frag == "" || strings.Contains(frag, "#") || !isFragment(frag) {
		return false
	}
	return isDID(did) && (isDIDPLC(did) || isAtprotoDIDWeb(did))
}

// isFragment checks RFC 3986 fragment characters.
func isFragment(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c) || strings.IndexByte("-._~!$&'()*+,;=:@/?", c) >= 0:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

// isDID checks the generic DID syntax (W3C DID core).
func isDID(s string) bool {
	if len(s) > 2048 || !strings.HasPrefix(s, "did:") {
		return false
	}
	method, msid, ok := strings.Cut(s[4:], ":")
	if !ok || method == "" || msid == "" {
		return false
	}
	for i := 0; i < len(method); i++ {
		if c := method[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return isMSID(msid)
}

func isMSID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c) || c == '.' || c == '-' || c == '_':
		case c == ':':
			if i == len(s)-1 {
				return false
			}
		case c == '%':
			if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func isDIDPLC(s string) bool {
	if len(s) != 32 || !strings.HasPrefix(s, "did:plc:") {
		return false
	}
	for i := 8; i < 32; i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// isAtprotoDIDWeb checks a did:web as atproto allows it: no path, and no
// port except on localhost.
func isAtprotoDIDWeb(s string) bool {
	host, ok := strings.CutPrefix(s, "did:web:")
	if !ok || host == "" || strings.Contains(host, ":") || !isMSID(host) {
		return false
	}
	localhost := host == "localhost" || strings.HasPrefix(host, "localhost%3A")
	if !localhost && strings.Contains(host, "%3A") {
		return false
	}
	return isURLHost(strings.ReplaceAll(host, "%3A", ":"))
}

// isURLHost approximates the WHATWG URL parser's acceptance of
// "https://" + hostport: the host is percent-decoded and must be a domain
// of allowed characters, or a valid IPv4 address when its last label is
// numeric; a port must be decimal and at most 65535.
func isURLHost(hostport string) bool {
	host, port, hasPort := strings.Cut(hostport, ":")
	if hasPort && port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n > 65535 || strings.ContainsAny(port, "+-") {
			return false
		}
	}
	decoded, err := decodeComponent(host)
	if err != nil || decoded == "" {
		return false
	}
	for i := 0; i < len(decoded); i++ {
		c := decoded[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("#%/:<>?@[\\]^|", c) >= 0 {
			return false
		}
	}
	labels := strings.Split(strings.ToLower(decoded), ".")
	if len(labels) > 1 && labels[len(labels)-1] == "" {
		labels = labels[:len(labels)-1]
	}
	last := labels[len(labels)-1]
	if last == "" || !(isDigits(last) || strings.HasPrefix(last, "0x") && isHexDigits(last[2:])) {
		return true
	}
	if len(labels) > 4 {
		return false
	}
	for i, l := range labels {
		n, ok := ipv4Number(l)
		if !ok {
			return false
		}
		if max := uint64(255); i == len(labels)-1 {
			if n >= 1<<(8*(5-len(labels))) {
				return false
			}
		} else if n > max {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isHexDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func ipv4Number(l string) (uint64, bool) {
	base := 10
	switch {
	case strings.HasPrefix(l, "0x"):
		l, base = l[2:], 16
		if l == "" {
			return 0, true
		}
	case len(l) > 1 && l[0] == '0':
		l, base = l[1:], 8
	}
	n, err := strconv.ParseUint(l, base, 64)
	return n, err == nil
}

// isMIME reports whether s is a concrete MIME type "type/subtype"
// (no wildcard), as the reference implementation checks the MIME type of
// an upload (isMime in dist/lib/mime.js): it is the blob's own type, which
// the PDS checks the same way, so atoauth's pre-check must not refuse
// what the PDS allows.
func isMIME(s string) bool { return isTypeSlashSubtype(s) && !strings.Contains(s, "*") }

// isAccept reports whether s is a MIME type or glob a blob permission may
// accept: "*/*", "type/*" or "type/subtype" (atproto permission spec,
// "blob"), where type and subtype are RFC 6838 restricted names (§4.2):
// a letter or digit, then up to 126 letters, digits and
// ! # $ & - ^ _ . +
//
// This is where atoauth deliberately differs from the reference. isAccept
// in @atproto/oauth-scopes (0.5.12, dist/lib/mime.js) takes any string
// with one "/" and something on either side, no " ", and "*" only in a
// final "/*": control characters (ESC, NUL, DEL, tab, newline, C1), other
// whitespace (U+00A0, U+2028), bidi controls (U+202E), any non-ASCII
// letter, parameters ("text/plain;charset=utf-8"), "%", "(", a "*" inside
// the type ("im*ge/*"), a leading "-" or ".", names of any length. No
// registered MIME type looks like that, a server's granted scope is shown
// to the person (atoauth whoami, consent descriptions), and a bidi
// override or a look-alike letter there misleads, so atoauth refuses
// them: such a token is not a valid permission (Parse fails, ParseGranted
// leaves it out, so it grants nothing). The differential test lists each
// kind (scope/testdata/diverge.txt).
func isAccept(s string) bool {
	if s == "*/*" {
		return true
	}
	typ, sub, ok := strings.Cut(s, "/")
	return ok && isRestrictedName(typ) && (sub == "*" || isRestrictedName(sub))
}

// isRestrictedName reports whether s is an RFC 6838 restricted-name
// (§4.2), the syntax of a MIME type's type and subtype:
//
//	restricted-name = restricted-name-first *126restricted-name-chars
//	restricted-name-first = ALPHA / DIGIT
//	restricted-name-chars = ALPHA / DIGIT / "!" / "#" / "$" / "&" / "-" /
//	                        "^" / "_" / "." / "+"
func isRestrictedName(s string) bool {
	if s == "" || len(s) > 127 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && strings.IndexByte("!#$&-^_.+", c) < 0 {
			return false
		}
	}
	return true
}

func isTypeSlashSubtype(s string) bool {
	i := strings.IndexByte(s, '/')
	return i > 0 && i < len(s)-1 && !strings.Contains(s[i+1:], "/") && !strings.Contains(s, " ")
}

// acceptMatches reports whether the accept glob admits MIME type mime.
func acceptMatches(accept, mime string) bool {
	switch {
	case accept == "*/*":
		return true
	case strings.HasSuffix(accept, "/*"):
		return strings.HasPrefix(mime, accept[:len(accept)-1])
	}
	return accept == mime
}
