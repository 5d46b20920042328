package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// oauthToken posts form (nil: an empty body) to tokenURL, with an
// Authorization header when auth is set, and reads an RFC 6749 token reply.
func oauthToken(ctx context.Context, h *HTTP, vendor, tokenURL string, form url.Values, auth string, c Creds) (Token, error) {
	hdr, body := http.Header{}, []byte(nil)
	if form != nil {
		hdr, body = postForm(form)
	}
	if auth != "" {
		hdr.Set("Authorization", auth)
	}
	data, err := h.do(ctx, request{
		vendor: vendor, op: "token", method: http.MethodPost,
		url: tokenURL, header: hdr, body: body, secrets: c.Secrets(), logon: true,
	})
	if err != nil {
		return Token{}, err
	}
	return ParseOAuthToken(vendor, data)
}

// clientCredentials is the client credentials grant with the credentials in
// the form body.
func clientCredentials(c Creds) url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.ClientID},
		"client_secret": {c.ClientSecret},
	}
}

// oauthReply is an RFC 6749 section 5.1 token response. expires_in is kept
// raw: Cyral sends it as a JSON string ("300"), the others as a number.
type oauthReply struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
}

// ParseOAuthToken reads a token response body. vendor names the source in
// errors, which never quote the token.
func ParseOAuthToken(vendor string, body []byte) (Token, error) {
	bad := func(detail string) error {
		return &UnavailableError{Vendor: vendor, Op: "token", Class: ClassBadResponse, Detail: detail}
	}
	var r oauthReply
	if err := json.Unmarshal(body, &r); err != nil {
		return Token{}, bad("the token response is not the JSON object expected: " + jsonProblem(err))
	}
	if r.AccessToken == "" {
		return Token{}, bad("the token response has no access_token")
	}
	life, known, err := parseExpiresIn(r.ExpiresIn)
	if err != nil {
		return Token{}, bad(err.Error())
	}
	typ, auth := authorization(r.TokenType, r.AccessToken)
	return Token{AccessToken: r.AccessToken, TokenType: typ, Authorization: auth, Lifetime: life, LifetimeKnown: known}, nil
}

// secondsRE is a plain decimal number of seconds: no sign, hex, underscores,
// NaN or Inf, which strconv.ParseFloat would take.
var secondsRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// parseExpiresIn accepts a JSON number or a numeric JSON string, cut to
// whole seconds (0 for under a second: the token is as good as dead); null,
// nothing or a blank string mean the vendor did not say (known is false).
func parseExpiresIn(raw json.RawMessage) (life time.Duration, known bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, false, fmt.Errorf("expires_in is not a string or a number")
		}
		text = strings.TrimSpace(text)
		if text == "" {
			return 0, false, nil
		}
	}
	secs, err := strconv.ParseFloat(text, 64)
	if err != nil || !secondsRE.MatchString(text) || !(secs >= 0 && secs <= 10*365*24*3600) {
		// Described, not quoted: a vendor that mixes up its fields could
		// put the token here.
		return 0, false, fmt.Errorf("expires_in (%d bytes) is not a number of seconds", len(text))
	}
	return time.Duration(secs) * time.Second, true, nil
}

// jsonProblem describes a decode error without quoting the input, which
// could hold a token.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has JSON type %s", te.Field, te.Value)
	case strings.Contains(err.Error(), "unexpected end of JSON input"):
		return "truncated JSON"
	}
	return "invalid JSON"
}
