package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestMatchGlob(t *testing.T) {
	cases := []struct {
		glob, name string
		want       bool
	}{
		{"data.csv", "data.csv", true},
		{"*.csv", "data.csv", true},
		{"*.csv", "out/data.csv", false}, // * stays in its directory
		{"**/*.csv", "data.csv", true},   // ** may be no directory at all
		{"**/*.csv", "a/b/data.csv", true},
		{"out/**", "out/a/b.txt", true},
		{"out/**", "other/b.txt", false},
		{"out/**/x", "out/x", true},
		{"out/**/x", "out/a/b/x", true},
		{"out/**/x", "out/a/b/y", false},
		{"a/?.txt", "a/1.txt", true},
		{"[ab].txt", "c.txt", false},
		{"**", "anything/at/all", true},
	}
	for _, c := range cases {
		if got := matchGlob(c.glob, c.name); got != c.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", c.glob, c.name, got, c.want)
		}
	}
}

func TestCheckGlobRefusesEscapes(t *testing.T) {
	for _, g := range []string{"/etc/passwd", "../x", "a/../../x", "[", ""} {
		if checkGlob(g) == nil {
			t.Errorf("checkGlob(%q) accepted", g)
		}
	}
}

func TestFindFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"data.csv", "notes.txt", "out/part-1.csv", "out/deep/part-2.csv"} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(name), 0o644)
	}
	os.Symlink(filepath.Join(dir, "notes.txt"), filepath.Join(dir, "link.txt"))
	os.Symlink(filepath.Join(dir, "out"), filepath.Join(dir, "outlink")) // a directory: not followed

	files, unmatched, err := findFiles(dir, []string{"**/*.csv", "*.txt", "*.parquet"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		if f.Size != int64(len(f.Name)) && f.Name != "link.txt" {
			t.Errorf("%s: size %d", f.Name, f.Size)
		}
	}
	want := []string{"data.csv", "link.txt", "notes.txt", "out/deep/part-2.csv", "out/part-1.csv"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("found %v, want %v", names, want)
	}
	if !reflect.DeepEqual(unmatched, []string{"*.parquet"}) {
		t.Fatalf("unmatched %v", unmatched)
	}
}
