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

// fakeStore is a tiny S3 stand-in for the wrapper's three requests: GET and PUT of /<key>
// (the signature in the query is checked to be there, not verified) and POST / with a form.
// fail(n, status) makes the next n requests answer status first.
type fakeStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	fails   []int
	posts   []map[string]string // the form fields of each POST (file excluded)
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

func (s *fakeStore) form(prefix string) PostForm {
	return PostForm{URL: s.srv.URL + "/", KeyPrefix: prefix, Fields: map[string]string{"policy": "cG9saWN5", "x-amz-signature": "sig"}}
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
		if r.ContentLength < 0 {
			s3Error(w, 411, "MissingContentLength", "length required")
			return
		}
		body, _ := io.ReadAll(r.Body)
		s.put(key, string(body))
	case http.MethodPost:
		if r.ContentLength < 0 {
			s3Error(w, 400, "InvalidRequest", "Content-Length required")
			return
		}
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			s3Error(w, 400, "MalformedPOSTRequest", err.Error())
			return
		}
		fields := map[string]string{}
		for k, v := range r.MultipartForm.Value {
			fields[k] = v[0]
		}
		f, _, err := r.FormFile("file")
		if err != nil {
			s3Error(w, 400, "MalformedPOSTRequest", "no file")
			return
		}
		body, _ := io.ReadAll(f)
		s.mu.Lock()
		s.posts = append(s.posts, fields)
		s.mu.Unlock()
		s.put(fields["key"], string(body))
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func testTransfer() *Transfer {
	x := newTransfer(Transfers{Attempts: 3, BackoffMillis: 1})
	x.Sleep = func(time.Duration) {}
	return x
}
