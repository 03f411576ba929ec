package main

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// A glob is a slash-separated pattern relative to the work dir. Each segment is a path.Match
// pattern (*, ?, [a-z]; * does not cross /), and a segment that is exactly ** matches any number
// of directories, none included: "**/*.csv" finds CSV files at any depth, "out/**" everything
// under out/.

func checkGlob(g string) error {
	if err := checkRelative(g); err != nil {
		return err
	}
	for _, seg := range strings.Split(g, "/") {
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("%q is not a valid glob (%v)", g, err)
		}
	}
	return nil
}

// matchGlob reports whether the relative, slash-separated name matches the glob.
func matchGlob(glob, name string) bool {
	return matchSegments(strings.Split(glob, "/"), strings.Split(name, "/"))
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for len(pat) > 0 && pat[0] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 0 {
				return true
			}
			for i := range name {
				if matchSegments(pat, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// MatchedFile is a regular file (or a symlink to one) found under the work dir.
type MatchedFile struct {
	Name string // relative, slash-separated: the key suffix and the name templates use
	Path string // absolute path to read
	Size int64
}

// findFiles walks dir once and returns the files each glob matched (sorted by name, each file
// once) and the globs that matched nothing. Directories behind symlinks are not followed.
func findFiles(dir string, globs []string) ([]MatchedFile, []string, error) {
	hits := make([]bool, len(globs))
	var found []MatchedFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		var matched []int
		for i, g := range globs {
			if matchGlob(g, name) {
				matched = append(matched, i)
			}
		}
		if len(matched) == 0 {
			return nil
		}
		info, err := os.Stat(p) // follows a symlink to its file
		if err != nil {
			return fmt.Errorf("reading %s: %v", name, err)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		for _, i := range matched {
			hits[i] = true
		}
		found = append(found, MatchedFile{Name: name, Path: p, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	var unmatched []string
	for i, g := range globs {
		if !hits[i] {
			unmatched = append(unmatched, g)
		}
	}
	return found, unmatched, nil
}
