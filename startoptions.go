package atoauth

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/atoauth/atoauth/discovery"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// MaxAppState is the largest StartOptions.AppState, in bytes. The app
// state is kept in the store with the pending login; anything larger
// belongs in the app's own storage, with a key to it as the app state.
const MaxAppState = 4096

// MaxUILocales is the most language tags StartOptions.UILocales may list.
const MaxUILocales = 10

// validDisplays are the display values (OpenID Connect Core §3.1.2.1)
// that the reference authorization server's request schema accepts
// (@atproto/oauth-types, oauthAuthorizationRequestParametersSchema). Its
// metadata advertises page, popup and touch; wap is accepted all the same.
var validDisplays = []string{"page", "popup", "touch", "wap"}

// checkStartOptions checks and normalizes what StartOptions adds to the
// authorization request, before anything is resolved or sent. It returns
// the ui_locales and login_hint to send ("" for none).
func checkStartOptions(opts *StartOptions) (uiLocales, loginHint string, err error) {
	if opts.Display != "" && !slices.Contains(validDisplays, opts.Display) {
		return "", "", fmt.Errorf("%w: Display %q is not one of %s", ErrInvalidStartOptions, cleanText(opts.Display), strings.Join(validDisplays, ", "))
	}
	if uiLocales, err = normalizeUILocales(opts.UILocales); err != nil {
		return "", "", err
	}
	if opts.LoginHint != "" {
		id, err := syntax.ParseAtIdentifier(strings.TrimPrefix(strings.TrimSpace(opts.LoginHint), "@"))
		if err != nil {
			return "", "", fmt.Errorf("%w: LoginHint %q is neither a handle nor a DID", ErrInvalidStartOptions, cleanText(opts.LoginHint))
		}
		loginHint = id.Normalize().String()
	}
	if len(opts.AppState) > MaxAppState {
		return "", "", fmt.Errorf("%w: AppState is %d bytes, more than MaxAppState (%d): keep larger data in the app's own storage and pass a key to it", ErrInvalidStartOptions, len(opts.AppState), MaxAppState)
	}
	return uiLocales, loginHint, nil
}

// normalizeUILocales checks a ui_locales value (OpenID Connect Core
// §3.1.2.1: space-separated BCP 47 tags, most preferred first) against
// what the reference authorization server accepts — a 2- or 3-letter
// language with an optional 2-letter region, single spaces between — and
// returns it in that form: case fixed ("EN-us" is "en-US"), blanks
// collapsed, duplicates dropped.
func normalizeUILocales(s string) (string, error) {
	tags := strings.Fields(s)
	if len(tags) > MaxUILocales {
		return "", fmt.Errorf("%w: UILocales lists %d language tags, more than MaxUILocales (%d)", ErrInvalidStartOptions, len(tags), MaxUILocales)
	}
	var out []string
	for _, t := range tags {
		n, ok := localeTag(t)
		if !ok {
			return "", fmt.Errorf("%w: UILocales: %q is not a language tag that atproto authorization servers accept: use a 2- or 3-letter language with an optional 2-letter region, such as \"fr-CA fr en\" (UILocalesFromAcceptLanguage converts an Accept-Language header)",
				ErrInvalidStartOptions, cleanText(t))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return strings.Join(out, " "), nil
}

// localeTag returns t as language[-REGION] when it has that form.
func localeTag(t string) (string, bool) {
	lang, region, hasRegion := strings.Cut(t, "-")
	if !letters(lang, 2, 3) || (hasRegion && !letters(region, 2, 2)) {
		return "", false
	}
	if hasRegion {
		return strings.ToLower(lang) + "-" + strings.ToUpper(region), true
	}
	return strings.ToLower(lang), true
}

// letters tells whether s is min to max ASCII letters.
func letters(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// UILocalesFromAcceptLanguage turns an HTTP Accept-Language header (RFC
// 9110 §12.5.4) into a StartOptions.UILocales value: the languages in
// order of preference (q), each reduced to the form atproto
// authorization servers accept — language and region, without script or
// other subtags ("zh-Hant-TW" becomes "zh-TW", "es-419" becomes "es") —
// without duplicates, wildcards or languages refused (q=0), at most
// MaxUILocales. It returns "" when nothing is left.
func UILocalesFromAcceptLanguage(header string) string {
	type pref struct {
		tag string
		q   float64
		i   int
	}
	var prefs []pref
	for i, part := range strings.Split(header, ",") {
		if i >= 64 {
			break
		}
		fields := strings.Split(part, ";")
		q := 1.0
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		if q <= 0 {
			continue
		}
		subtags := strings.Split(strings.TrimSpace(fields[0]), "-")
		if !letters(subtags[0], 2, 3) {
			continue // "*", "i-…", "x-…"
		}
		tag := strings.ToLower(subtags[0])
		for _, s := range subtags[1:] {
			if len(s) == 4 && letters(s, 4, 4) && !strings.Contains(tag, "-") {
				continue // a script, which only comes before the region
			}
			if letters(s, 2, 2) {
				tag += "-" + strings.ToUpper(s)
			}
			break
		}
		prefs = append(prefs, pref{tag, q, i})
	}
	sort.SliceStable(prefs, func(a, b int) bool { return prefs[a].q > prefs[b].q })
	var out []string
	for _, p := range prefs {
		if len(out) == MaxUILocales {
			break
		}
		if !slices.Contains(out, p.tag) {
			out = append(out, p.tag)
		}
	}
	return strings.Join(out, " ")
}

// loginHintFor decides the login_hint of a login to target. By default:
// the account's verified handle when the login starts from a handle or a
// DID, else its DID; none for a login that starts from a server URL.
// explicit (normalized), when set, must name the account the login is
// for, if it is known: otherwise the server would show one account and
// the callback refuse the other.
func loginHintFor(target *discovery.Target, explicit string) (string, error) {
	id := target.Identity
	if id == nil {
		return explicit, nil
	}
	handle := ""
	if !id.Handle.IsInvalidHandle() && id.Handle != "" {
		handle = id.Handle.Normalize().String()
	}
	switch {
	case explicit == "" && handle != "":
		return handle, nil
	case explicit == "":
		return id.DID.String(), nil
	case explicit == id.DID.String() || explicit == handle:
		return explicit, nil
	}
	return "", fmt.Errorf("%w: LoginHint %q names another account than the one the login is for (%s)", ErrInvalidStartOptions, explicit, id.DID)
}
