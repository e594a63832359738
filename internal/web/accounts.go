package web

import (
	"net/http"
	"regexp"
)

// Several accounts in one browser (atoauthhttp.Options.MaxAccounts):
// atoauthhttp keeps the browser's accounts in its cookies (opaque
// session ids only) and switches between them; pages show the other
// accounts' handles in a switcher, and forms name an account by its DID,
// never by its session id, so no page holds a session id.

// maxAccounts is how many accounts one browser may be signed in to.
const maxAccounts = 5

// sessionIDRE is what a session id looks like (atoauth's are 43
// base64url characters).
var sessionIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// addAccountPage is the sign-in page for another account, shown beside
// the current one.
func (a *App) addAccountPage(w http.ResponseWriter, r *http.Request, s *session) {
	if 1+len(s.others) >= maxAccounts {
		a.renderError(w, r, http.StatusBadRequest, errorPage{Heading: "Too many accounts",
			Message: tooManyAccounts}, s)
		return
	}
	a.render(w, r, http.StatusOK, "signin", s.view("Add another account", "", signInPage{Adding: true}))
}

const tooManyAccounts = "This browser is signed in to 5 accounts, the most it can be. Sign out of one of them first."
