package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Tolerance is how far webhook-timestamp may be from now, either way, as in
// the Standard Webhooks libraries.
const Tolerance = 5 * time.Minute

var (
	ErrHeaders   = errors.New("missing or malformed webhook headers")
	ErrTooOld    = errors.New("message timestamp too old")
	ErrTooNew    = errors.New("message timestamp too new")
	ErrSignature = errors.New("no matching signature found")
)

// Verify checks a Standard Webhooks delivery (https://www.standardwebhooks.com):
// webhook-timestamp within Tolerance of now, and one of the space-separated
// `v1,<base64>` signatures of webhook-signature equal to
// HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"), where key is
// the base64 part of the `whsec_...` secret. body is the raw request body.
func Verify(secret string, header http.Header, body []byte, now time.Time) error {
	id := header.Get("webhook-id")
	timestamp := header.Get("webhook-timestamp")
	signatures := header.Get("webhook-signature")
	if id == "" || timestamp == "" || signatures == "" {
		return ErrHeaders
	}
	seconds, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrHeaders
	}
	sent := time.Unix(seconds, 0)
	if now.Sub(sent) > Tolerance {
		return ErrTooOld
	}
	if sent.Sub(now) > Tolerance {
		return ErrTooNew
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(seconds, 10) + "."))
	mac.Write(body)
	expected := mac.Sum(nil)
	for _, signature := range strings.Split(signatures, " ") {
		version, value, ok := strings.Cut(signature, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, expected) {
			return nil
		}
	}
	return ErrSignature
}
