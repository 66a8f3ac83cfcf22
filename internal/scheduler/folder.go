package scheduler

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// folderDigest fingerprints the YAML files of dir (names and contents).
// Polling a digest instead of watching the folder needs no dependency,
// works on network and container mounts where inotify does not, and is
// cheap for a folder of small files. Contents rather than modification
// times are compared, so a save that keeps the size and lands within the
// file system's timestamp resolution is still noticed.
func folderDigest(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read campaigns folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		if ext := strings.ToLower(filepath.Ext(n)); ext == ".yaml" || ext == ".yml" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		body, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			if os.IsNotExist(err) {
				continue // removed between listing and reading: the next poll sees it gone
			}
			return "", fmt.Errorf("read campaigns folder: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(body))
		h.Write(body)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
