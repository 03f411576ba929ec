package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDownloadWritesTheObject(t *testing.T) {
	store := newFakeStore(t)
	store.put("a/in.csv", "x,y\n1,2\n")
	dest := filepath.Join(t.TempDir(), "sub", "in.csv")
	n, err := testTransfer().Download(store.url("a/in.csv"), dest)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dest)
	if string(got) != "x,y\n1,2\n" || n != 8 {
		t.Fatalf("got %q (%d bytes)", got, n)
	}
}

func TestTransientFailuresAreTriedAgain(t *testing.T) {
	store := newFakeStore(t)
	store.put("k", "v")
	store.fail(2, 503)
	if _, err := testTransfer().Download(store.url("k"), filepath.Join(t.TempDir(), "k")); err != nil {
		t.Fatalf("the third attempt should succeed: %v", err)
	}
}

func TestTransientFailuresRunOut(t *testing.T) {
	store := newFakeStore(t)
	store.fail(3, 503)
	err := testTransfer().PutBytes(store.url("k"), []byte("v"))
	if err == nil || !strings.Contains(err.Error(), "503 SlowDown: injected failure (3 attempts)") {
		t.Fatalf("got %v", err)
	}
}

func TestRefusalsAreNotTriedAgainAndHideTheSignature(t *testing.T) {
	store := newFakeStore(t)
	dest := filepath.Join(t.TempDir(), "missing")
	_, err := testTransfer().Download(store.url("nope"), dest)
	if err == nil {
		t.Fatal("expected an error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "404 NoSuchKey: The specified key does not exist.") || strings.Contains(msg, "attempts") {
		t.Fatalf("want one attempt and the S3 error, got %q", msg)
	}
	if strings.Contains(msg, "secret-signature") || !strings.Contains(msg, store.srv.URL+"/nope") {
		t.Fatalf("the URL must be named without its query: %q", msg)
	}
	if _, statErr := os.Stat(dest); !os.IsNotExist(statErr) {
		t.Fatal("a failed download must leave no file")
	}
}

func TestNoServerIsAClearError(t *testing.T) {
	store := newFakeStore(t)
	url := store.url("k")
	store.srv.Close()
	err := testTransfer().PutBytes(url, []byte("v"))
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "(3 attempts)") {
		t.Fatalf("got %v", err)
	}
}

func TestRedactDropsQueryAndUser(t *testing.T) {
	got := redact("http://u:p@h:1/b/k?X-Amz-Credential=AK&X-Amz-Signature=s")
	if got != "http://h:1/b/k" {
		t.Fatalf("got %q", got)
	}
}
