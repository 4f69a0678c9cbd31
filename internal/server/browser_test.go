package server

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"golang.org/x/oauth2"
)

// The sign-in page in a real browser (Debian's chromium through chromedp):
// the authorization code flow with PKCE from the authorize URL to a token
// that opens a route, and a wrong password that gets the generic notice.
func TestBrowserSignIn(t *testing.T) {
	chromium := os.Getenv("GATEHOUSE_TEST_CHROMIUM")
	if chromium == "" {
		t.Skip("GATEHOUSE_TEST_CHROMIUM not set: skipping the browser test")
	}
	r, st := startOAuthServer(t, "")
	ctx := context.Background()
	base := "https://" + r.PublicAddr
	callback := base + "/app/cb"
	if _, _, err := oauth.CreateClient(ctx, st, oauth.ClientOptions{ID: "spa", Name: "Shop app", Public: true, RedirectURIs: []string{callback},
		Scopes: []string{"orders:read"}, Audiences: []string{"orders-api"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := oauth.CreateUser(ctx, st, oauth.UserOptions{Username: "alice", Password: "alice's long password", Tenant: "acme"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "spa", RedirectURL: callback, Scopes: []string{"orders:read"},
		Endpoint: oauth2.Endpoint{AuthURL: base + "/oauth2/authorize", TokenURL: base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st-browser", oauth2.S256ChallengeOption(verifier))

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.Flag("ignore-certificate-errors", true),
		chromedp.NoSandbox, chromedp.Headless)
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	if err := chromedp.Do(bctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
		chromedp.Click(chromedp.CSS("#allow")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	); err != nil {
		t.Fatalf("wrong password in the browser: %v", err)
	}
	notice, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#notice")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice, "not right") {
		t.Fatalf("notice %q", notice)
	}
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS("#password"), "alice's long password"),
		chromedp.Click(chromedp.CSS("#allow")),
	); err != nil {
		t.Fatalf("sign-in in the browser: %v", err)
	}
	var landed string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if landed, err = chromedp.Run(bctx, chromedp.Location()); err == nil && strings.HasPrefix(landed, callback) {
			break
		}
	}
	u, err := url.Parse(landed)
	if err != nil || !strings.HasPrefix(landed, callback+"?") || u.Query().Get("state") != "st-browser" || u.Query().Get("code") == "" {
		t.Fatalf("the browser landed on %q", landed)
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, r.client), u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err := r.client.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("route with the user's token: %v %v", err, res)
	}
	res.Body.Close()
}
