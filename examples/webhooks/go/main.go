// A webhook endpoint that verifies biometric-validation webhooks (Verify, in
// verify.go: the standard library only) and processes each webhook-id once.
//
//	WEBHOOK_SECRET=whsec_... PORT=8080 go run .
//
// Answers 200 "accepted" (verified, processed), 200 "duplicate" (verified,
// already processed: a 2xx so that the sender stops retrying) or
// 400 "refused: <why>" (bad signature, timestamp more than 5 minutes from
// now, missing headers).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

type event struct {
	Type string `json:"type"`
	Data struct {
		ID     string `json:"_id"`
		Status string `json:"status"`
	} `json:"data"`
}

func main() {
	// The project's secret, `whsec_...` (bvctl project create / rotate-secret).
	secret := os.Getenv("WEBHOOK_SECRET")
	// The webhook-ids processed. In production: a table with a unique key on it.
	var mu sync.Mutex
	seen := map[string]bool{}

	handler := func(w http.ResponseWriter, r *http.Request) {
		// Verify the raw bytes as received, before any JSON parsing.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "refused: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := Verify(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, "refused: "+err.Error(), http.StatusBadRequest)
			return
		}
		var e event
		if err := json.Unmarshal(body, &e); err != nil {
			http.Error(w, "refused: "+err.Error(), http.StatusBadRequest)
			return
		}
		id := r.Header.Get("webhook-id")
		mu.Lock()
		duplicate := seen[id]
		seen[id] = true
		mu.Unlock()
		if duplicate {
			fmt.Fprint(w, "duplicate")
			return
		}
		// Your processing here: e.Type, e.Data.ID, e.Data.Status...
		fmt.Printf("event %s %s %s\n", id, e.Type, e.Data.ID)
		fmt.Fprint(w, "accepted")
	}

	listener, err := net.Listen("tcp", "127.0.0.1:"+envOr("PORT", "0"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	log.Fatal(http.Serve(listener, http.HandlerFunc(handler)))
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
