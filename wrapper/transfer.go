package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Transfer moves bytes between the pod and the store with presigned requests only: GET and PUT
// URLs, each signed for one key. A transient failure
// (no connection, 5xx, 429) is tried again with a doubling backoff; anything else fails at once.
// Errors never repeat a URL's query: it holds the signature.
type Transfer struct {
	Client   *http.Client
	Attempts int
	Backoff  time.Duration
	Sleep    func(time.Duration) // tests replace it
}

func newTransfer(t Transfers) *Transfer {
	return &Transfer{
		Client: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: 2 * time.Minute,
			IdleConnTimeout:       30 * time.Second,
			MaxIdleConnsPerHost:   4,
		}},
		Attempts: t.Attempts,
		Backoff:  time.Duration(t.BackoffMillis) * time.Millisecond,
		Sleep:    time.Sleep,
	}
}

// StoreError is a failed request, in words a person can act on.
type StoreError struct {
	Op        string // GET, PUT
	Target    string // URL without its query
	Status    int    // 0: no answer
	Code      string // S3 error code (AccessDenied, ...)
	Message   string
	Attempts  int
	Transient bool
}

func (e *StoreError) Error() string {
	var what string
	switch {
	case e.Status == 0:
		what = e.Message
	case e.Code != "":
		what = fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	default:
		what = fmt.Sprintf("%d %s", e.Status, strings.TrimSpace(e.Message))
	}
	tries := ""
	if e.Attempts > 1 {
		tries = fmt.Sprintf(" (%d attempts)", e.Attempts)
	}
	return fmt.Sprintf("%s %s: %s%s", e.Op, e.Target, what, tries)
}

// redact drops the query (signature, credential) and any user info from a URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// do sends the request build() makes until it succeeds, fails for good, or attempts run out.
func (t *Transfer) do(op, target string, build func() (*http.Request, error), ok func(*http.Response) error) error {
	wait := t.Backoff
	var last *StoreError
	for attempt := 1; attempt <= t.Attempts; attempt++ {
		if attempt > 1 {
			t.Sleep(wait)
			wait *= 2
		}
		req, err := build()
		if err != nil {
			return &StoreError{Op: op, Target: redact(target), Message: err.Error(), Attempts: attempt}
		}
		resp, err := t.Client.Do(req)
		if err != nil {
			last = &StoreError{Op: op, Target: redact(target), Message: unwrapNetError(err), Attempts: attempt, Transient: true}
			continue
		}
		if resp.StatusCode/100 == 2 {
			err = ok(resp)
			resp.Body.Close()
			if err == nil {
				return nil
			}
			last = &StoreError{Op: op, Target: redact(target), Message: err.Error(), Attempts: attempt, Transient: true}
			continue
		}
		last = storeError(op, target, resp)
		resp.Body.Close()
		last.Attempts = attempt
		if !last.Transient {
			return last
		}
	}
	return last
}

func unwrapNetError(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // the URL is named by the StoreError, without its query
	}
	return err.Error()
}

func storeError(op, target string, resp *http.Response) *StoreError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var s3 struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	e := &StoreError{Op: op, Target: redact(target), Status: resp.StatusCode}
	if xml.Unmarshal(body, &s3) == nil && s3.Code != "" {
		e.Code, e.Message = s3.Code, s3.Message
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Transient = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusRequestTimeout
	return e
}

// Download writes the object at url to dest (through a temporary file beside it, renamed when
// complete, so a failed download leaves nothing half-written). Returns the bytes written.
func (t *Transfer) Download(rawURL, dest string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return 0, err
	}
	var written int64
	err := t.do(http.MethodGet, rawURL,
		func() (*http.Request, error) { return http.NewRequest(http.MethodGet, rawURL, nil) },
		func(resp *http.Response) error {
			tmp, err := os.CreateTemp(filepath.Dir(dest), ".download-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			n, err := io.Copy(tmp, resp.Body)
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("reading the body: %v", err)
			}
			if resp.ContentLength >= 0 && n != resp.ContentLength {
				return fmt.Errorf("the body ended after %d of %d bytes", n, resp.ContentLength)
			}
			if err := os.Chmod(tmp.Name(), 0o644); err != nil {
				return err
			}
			written = n
			return os.Rename(tmp.Name(), dest)
		})
	return written, err
}

// PutFile uploads a file with a presigned PUT.
func (t *Transfer) PutFile(rawURL, src string) error {
	return t.do(http.MethodPut, rawURL, func() (*http.Request, error) {
		f, size, err := openSized(src)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequest(http.MethodPut, rawURL, f)
		if err != nil {
			f.Close()
			return nil, err
		}
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
			f.Close()
		}
		return req, nil
	}, discard)
}

// openSized opens a file to send and says how long it is (requests carry a Content-Length).
func openSized(name string) (*os.File, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, info.Size(), nil
}

// PutBytes uploads data with a presigned PUT.
func (t *Transfer) PutBytes(rawURL string, data []byte) error {
	return t.do(http.MethodPut, rawURL, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, rawURL, bytes.NewReader(data))
		if err == nil && len(data) == 0 {
			req.Body = http.NoBody
		}
		return req, err
	}, discard)
}

func discard(resp *http.Response) error {
	_, err := io.Copy(io.Discard, resp.Body)
	return err
}
