package atoauthhttp

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/scope"
)

// StepUp asks the account of the browser's current session for more
// permissions (atproto permission spec, https://atproto.com/specs/permission):
// it starts Session.StepUp for what the scope string missing names — as
// StepUpScope maps it to permissions the client metadata declares —
// and sends the browser to the authorization server. The callback
// replaces the session under the same id (only if it is still the
// browser's current session: a switch or sign-out in between refuses
// it) and returns to opts.Next. missing is typically
// xrpc.ScopeMissingError.Request, or scope.Cover(reqs...).String().
//
// An unsafe request must come from the app's origin with the session's
// CSRF token (as RequireSession checks); the step-ups of a client
// address count against Options.SignInLimit. A request that wants JSON
// gets 200 {"redirect": URL}. On failure it writes nothing (but
// headers) and returns an *Error: CodeNotSignedIn, CodeBadRequest (a
// scope that does not parse), CodeMissingPermission (with Scope "": no
// declared permission grants it), CodeRateLimited, CodeSignInFailed, …
func (a *Auth) StepUp(w http.ResponseWriter, r *http.Request, missing string, opts *StartOptions) error {
	if opts == nil {
		opts = &StartOptions{}
	}
	ret := returnOf(opts.Next)
	acc, r, e := a.check(w, r, true)
	if e != nil {
		if e.Code == CodeNotSignedIn {
			e.Return = ret
		}
		return e
	}
	want, err := scope.Parse(strings.TrimSpace(missing))
	if err != nil || len(want) == 0 {
		return &Error{Code: CodeBadRequest, Status: http.StatusBadRequest, Title: "Nothing to allow",
			Message: "That is not a permission this app can ask for.", Err: err, Return: ret}
	}
	ask, undeclared := a.StepUpScope(want)
	if len(undeclared) > 0 {
		var words []string
		for _, p := range undeclared {
			words = append(words, strings.TrimSuffix(p.Describe(), "."))
		}
		a.log.InfoContext(r.Context(), "step-up refused: not declared", "scope", want.String())
		return &Error{Code: CodeMissingPermission, Status: http.StatusForbidden, Title: "Permission not available",
			Message: "This app is not configured to ask for this permission (" + strings.Join(words, "; ") + "): its operator would have to add it to the app's scope.",
			Return:  ret}
	}
	if e := a.allow(w, r); e != nil {
		e.Return = ret
		return e
	}
	s := acc.Current
	st := loginState{Return: ret, StepUp: s.ID(), App: opts.AppState}
	err = a.start(w, r, st, opts.Prompt, s.Handle().String(), func(ctx context.Context, so *atoauth.StartOptions) (*atoauth.Authorization, error) {
		return s.StepUp(ctx, ask, so)
	})
	if err == nil {
		a.log.InfoContext(r.Context(), "step-up started", "did", s.DID().String(), "scope", ask)
	}
	return err
}

// stepUpRoute is Handler's POST BasePath+"stepup": StepUp for the form
// fields scope and next.
func (a *Auth) stepUpRoute(w http.ResponseWriter, r *http.Request) {
	acc, r := a.signedInForm(w, r)
	if acc == nil {
		return
	}
	if err := a.StepUp(w, r, r.PostFormValue("scope"), &StartOptions{Next: r.PostFormValue("next")}); err != nil {
		a.WriteError(w, r, err)
	}
}

// StepUpScope returns what a step-up asks for to get the permissions
// missing: each as the client metadata's scope writes it, or else the
// declared permissions that grant it (transition:generic grants any
// repository write, say), as a scope string. undeclared lists the
// permissions of missing that no declared permission grants: the app
// cannot ask for them.
func (a *Auth) StepUpScope(missing scope.Set) (ask string, undeclared scope.Set) {
	type declaredPerm struct {
		raw  string // as the metadata writes it, as Start wants it
		norm string
		perm scope.Permission
	}
	var declared []declaredPerm
	for _, raw := range strings.Fields(a.client.Metadata().Scope) {
		if p, err := scope.ParsePermission(raw); err == nil {
			declared = append(declared, declaredPerm{raw: raw, norm: p.String(), perm: p})
		}
	}
	var want []string
	add := func(t string) {
		if !slices.Contains(want, t) {
			want = append(want, t)
		}
	}
	for _, p := range missing {
		if i := slices.IndexFunc(declared, func(d declaredPerm) bool { return d.norm == p.String() }); i >= 0 {
			add(declared[i].raw)
			continue
		}
		reqs, err := scope.ParseRequirements(p.String())
		if err != nil || len(reqs) == 0 {
			undeclared = append(undeclared, p)
			continue
		}
		var grants []string
		for _, req := range reqs {
			i := slices.IndexFunc(declared, func(d declaredPerm) bool { return scope.NewSet(d.perm).Allows(req) })
			if i < 0 {
				grants = nil
				break
			}
			grants = append(grants, declared[i].raw)
		}
		if grants == nil {
			undeclared = append(undeclared, p)
			continue
		}
		for _, g := range grants {
			add(g)
		}
	}
	return strings.Join(want, " "), undeclared
}
