package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Review 15: private_key is "the private key only". A PEM key with text
// before or after it (a pasted shell line, the rest of a file, a second
// block whose armour is damaged and so is no block at all) is taken today
// without a word: pem.Decode skips what precedes the block and the check
// only looks for a second well-formed block after it.
func TestReview15PrivateKeyRefusesTextAroundTheBlock(t *testing.T) {
	k := testKeys(t)
	good := pkcs8(t, k.ec)
	var check func(any) error
	v, _ := client.Lookup("oauth2")
	for _, f := range v.Fields() {
		if f.Name == client.FieldPrivateKey {
			check = f.Check
		}
	}
	if err := check(good); err != nil {
		t.Fatalf("the good key is refused: %v", err)
	}
	if err := check("\n" + good + "\n\n"); err != nil {
		t.Fatalf("white space around the key is refused: %v", err)
	}
	for name, text := range map[string]string{
		"trailing text":           good + "client_secret=hunter2-but-longer\n",
		"leading text":            "cat key.pem\n" + good,
		"damaged second block":    good + "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n",
		"trailing base64 garbage": good + "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n",
	} {
		t.Run(name, func(t *testing.T) {
			err := check(text)
			if err == nil {
				t.Fatal("accepted a private_key with text around the PEM block")
			}
			for _, line := range strings.Split(text, "\n") {
				if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
					t.Fatalf("the refusal quotes the input: %v", err)
				}
			}
		})
	}
}

// Review 15: the assertion is a bearer credential for up to five minutes
// (any scope the client may have, not only the role's). Its header is
// fixed and public, so an echo of the rest (payload.signature, as a server
// quoting "the JWT body" does) is the whole assertion; redaction only
// matches runs from the start of a secret, so that echo reaches the error.
func TestReview15ErrorsHoldNoAssertionWithoutItsHeader(t *testing.T) {
	k := testKeys(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		a := r.PostForm.Get("client_assertion")
		_, rest, _ := strings.Cut(a, ".")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad assertion %s"}`, rest)
	}))
	t.Cleanup(srv.Close)
	v, _ := client.Lookup("oauth2")
	_, err := v.Token(context.Background(), jwtHTTP(t, 0), jwtCreds(srv.URL+"/token", "svc", pkcs8(t, k.ec), ""))
	if err == nil {
		t.Fatal("a 400 was taken for a token")
	}
	if i := strings.Index(err.Error(), "bad assertion "); i >= 0 && strings.Count(err.Error()[i:], ".") >= 1 && strings.Contains(err.Error()[i:], "eyJ") {
		t.Fatalf("the error quotes the assertion's payload and signature: %v", err)
	}
}
