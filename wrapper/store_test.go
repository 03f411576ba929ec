package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStore is a tiny S3 stand-in for the wrapper's requests: GET and PUT of /<key> (the
// signature in the query is checked to be there, not verified).
// fail(n, status) makes the next n requests answer status first.
type fakeStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	fails   []int
	srv     *httptest.Server
}

func newFakeStore(t *testing.T) *fakeStore {
	s := &fakeStore{objects: map[string][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeStore) fail(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.fails = append(s.fails, status)
	}
}

func (s *fakeStore) url(key string) string {
	return s.srv.URL + "/" + key + "?X-Amz-Signature=secret-signature"
}

// slots are n presigned PUT slots under prefix, as the operator signs them.
func (s *fakeStore) slots(prefix string, n int) PutSlots {
	signatures := make([]string, n)
	for i := range signatures {
		signatures[i] = fmt.Sprintf("sig%d", i)
	}
	return PutSlots{URL: s.srv.URL + "/" + prefix + "{slot}?X-Amz-Signature={signature}", Signatures: signatures}
}

func (s *fakeStore) get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.objects[key]
	return string(v), ok
}

func (s *fakeStore) put(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = []byte(value)
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\"?><Error><Code>%s</Code><Message>%s</Message></Error>", code, msg)
}

func (s *fakeStore) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if len(s.fails) > 0 {
		status := s.fails[0]
		s.fails = s.fails[1:]
		s.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		s3Error(w, status, "SlowDown", "injected failure")
		return
	}
	s.mu.Unlock()
	key := strings.TrimPrefix(r.URL.Path, "/")
	switch r.Method {
	case http.MethodGet:
		if r.URL.Query().Get("X-Amz-Signature") == "" {
			s3Error(w, 403, "AccessDenied", "no signature")
			return
		}
		v, ok := s.get(key)
		if !ok {
			s3Error(w, 404, "NoSuchKey", "The specified key does not exist.")
			return
		}
		io.WriteString(w, v)
	case http.MethodPut:
		// A slot's URL carries its own signature (store.slots signs slot i as "sig<i>").
		if sig := r.URL.Query().Get("X-Amz-Signature"); strings.HasPrefix(sig, "sig") && sig != "sig"+key[strings.LastIndex(key, "/")+1:] {
			s3Error(w, 403, "SignatureDoesNotMatch", "signed for another key")
			return
		}
		if r.ContentLength < 0 {
			s3Error(w, 411, "MissingContentLength", "length required")
			return
		}
		body, _ := io.ReadAll(r.Body)
		s.put(key, string(body))
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func testTransfer() *Transfer {
	x := newTransfer(Transfers{Attempts: 3, BackoffMillis: 1})
	x.Sleep = func(time.Duration) {}
	return x
}
