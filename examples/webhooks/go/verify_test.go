package main

import (
	"net/http"
	"testing"
	"time"
)

// The Standard Webhooks specification's test vector.
const (
	secret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	id        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	timestamp = "1614265330"
	body      = `{"test": 2432232314}`
	signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var signedAt = time.Unix(1614265330, 0)

func headers(id, timestamp, signature string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", timestamp)
	h.Set("webhook-signature", signature)
	return h
}

func TestTheSpecificationVectorVerifiesAtItsTime(t *testing.T) {
	for _, now := range []time.Time{signedAt, signedAt.Add(Tolerance), signedAt.Add(-Tolerance)} {
		if err := Verify(secret, headers(id, timestamp, signature), []byte(body), now); err != nil {
			t.Errorf("at %v: %v", now, err)
		}
	}
	rotated := "v1,c2lnbmVkIHdpdGggdGhlIG90aGVyIHNlY3JldA== " + signature
	if err := Verify(secret, headers(id, timestamp, rotated), []byte(body), signedAt); err != nil {
		t.Errorf("two signatures, the second ours: %v", err)
	}
}

func TestAnythingElseIsRefused(t *testing.T) {
	cases := []struct {
		name   string
		secret string
		header http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"a tampered body", secret, headers(id, timestamp, signature), `{"test": 2432232315}`, signedAt, ErrSignature},
		{"another id", secret, headers("msg_other", timestamp, signature), body, signedAt, ErrSignature},
		{"another timestamp", secret, headers(id, "1614265331", signature), body, signedAt, ErrSignature},
		{"another secret", "whsec_c2VjcmV0", headers(id, timestamp, signature), body, signedAt, ErrSignature},
		{"a v2 signature", secret, headers(id, timestamp, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), body, signedAt, ErrSignature},
		{"stale", secret, headers(id, timestamp, signature), body, signedAt.Add(Tolerance + time.Second), ErrTooOld},
		{"from the future", secret, headers(id, timestamp, signature), body, signedAt.Add(-Tolerance - time.Second), ErrTooNew},
		{"a malformed timestamp", secret, headers(id, "soon", signature), body, signedAt, ErrHeaders},
		{"no id", secret, headers("", timestamp, signature), body, signedAt, ErrHeaders},
		{"no signature", secret, headers(id, timestamp, ""), body, signedAt, ErrHeaders},
	}
	for _, c := range cases {
		if err := Verify(c.secret, c.header, []byte(c.body), c.now); err != c.want {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}
