// Command mlsinspect decodes MLS wire objects to readable JSON, and
// summarizes the official test vectors.
//
//	mlsinspect decode TYPE [HEX]   decode one object (hex argument or stdin) and print it as JSON
//	mlsinspect types               list the TYPE names decode accepts
//	mlsinspect summary [DIR]       decode every wire object in the test vectors
//	                               (DIR defaults to $MLS_TEST_VECTORS, else the testdata
//	                               directory of the mlskit repository around the working
//	                               directory)
//
// In the JSON output byte strings are hex, enums carry their RFC names.
package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mlskit/mlskit/codec"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mlsinspect:", err)
		os.Exit(1)
	}
}

const usage = "usage: mlsinspect decode TYPE [HEX] | types | summary [DIR]"

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "decode":
		if len(args) < 2 {
			return errors.New(usage)
		}
		var text string
		if len(args) >= 3 {
			text = args[2]
		} else {
			b, err := io.ReadAll(os.Stdin)
			if err != nil {
				return err
			}
			text = string(b)
		}
		data, err := hex.DecodeString(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("input is not hex: %w", err)
		}
		v, err := decode(args[1], data)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(readable(v))
	case "types":
		for _, n := range typeNames() {
			fmt.Fprintln(out, n)
		}
		return nil
	case "summary":
		dir := os.Getenv("MLS_TEST_VECTORS")
		if len(args) >= 2 {
			dir = args[1]
		}
		if dir == "" {
			var err error
			if dir, err = repoTestdata(); err != nil {
				return err
			}
		}
		return summary(dir, out)
	}
	return errors.New(usage)
}

// repoTestdata returns the testdata directory of the mlskit module that
// holds the working directory.
func repoTestdata() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if mod, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
			strings.HasPrefix(string(mod), "module github.com/mlskit/mlskit\n") {
			return filepath.Join(d, "testdata"), nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no test vector directory: name one (summary DIR or MLS_TEST_VECTORS) or run inside the mlskit repository")
		}
	}
}

type unmarshaler interface{ Unmarshal([]byte) error }

// types lists the top-level wire objects decode accepts.
var types = map[string]func() unmarshaler{
	"MLSMessage":             func() unmarshaler { return new(codec.MLSMessage) },
	"KeyPackage":             func() unmarshaler { return new(codec.KeyPackage) },
	"Welcome":                func() unmarshaler { return new(codec.Welcome) },
	"GroupInfo":              func() unmarshaler { return new(codec.GroupInfo) },
	"GroupSecrets":           func() unmarshaler { return new(codec.GroupSecrets) },
	"RatchetTree":            func() unmarshaler { return new(codec.RatchetTree) },
	"Proposal":               func() unmarshaler { return new(codec.Proposal) },
	"Commit":                 func() unmarshaler { return new(codec.Commit) },
	"UpdatePath":             func() unmarshaler { return new(codec.UpdatePath) },
	"LeafNode":               func() unmarshaler { return new(codec.LeafNode) },
	"GroupContext":           func() unmarshaler { return new(codec.GroupContext) },
	"AuthenticatedContent":   func() unmarshaler { return new(codec.AuthenticatedContent) },
	"Add":                    func() unmarshaler { return new(codec.Add) },
	"Update":                 func() unmarshaler { return new(codec.Update) },
	"Remove":                 func() unmarshaler { return new(codec.Remove) },
	"PreSharedKey":           func() unmarshaler { return new(codec.PreSharedKey) },
	"ReInit":                 func() unmarshaler { return new(codec.ReInit) },
	"ExternalInit":           func() unmarshaler { return new(codec.ExternalInit) },
	"GroupContextExtensions": func() unmarshaler { return new(codec.GroupContextExtensions) },
}

func typeNames() []string {
	var names []string
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func decode(typ string, data []byte) (any, error) {
	mk, ok := types[typ]
	if !ok {
		return nil, fmt.Errorf("unknown type %q (see 'mlsinspect types')", typ)
	}
	v := mk()
	if err := v.Unmarshal(data); err != nil {
		return nil, err
	}
	return v, nil
}

// fields of each vector file that hold wire objects, and their types.
// Objects inside arrays (passive-client epochs, treekem update paths) are
// found by walking the JSON.
var vectorFields = map[string]map[string]string{
	"messages.json": {
		"mls_welcome": "MLSMessage", "mls_group_info": "MLSMessage", "mls_key_package": "MLSMessage",
		"ratchet_tree": "RatchetTree", "group_secrets": "GroupSecrets", "add_proposal": "Add",
		"update_proposal": "Update", "remove_proposal": "Remove", "pre_shared_key_proposal": "PreSharedKey",
		"re_init_proposal": "ReInit", "external_init_proposal": "ExternalInit",
		"group_context_extensions_proposal": "GroupContextExtensions", "commit": "Commit",
		"public_message_application": "MLSMessage", "public_message_proposal": "MLSMessage",
		"public_message_commit": "MLSMessage", "private_message": "MLSMessage",
	},
	"welcome.json":           {"key_package": "MLSMessage", "welcome": "MLSMessage"},
	"tree-operations.json":   {"proposal": "Proposal", "tree_before": "RatchetTree", "tree_after": "RatchetTree"},
	"tree-validation.json":   {"tree": "RatchetTree"},
	"treekem.json":           {"ratchet_tree": "RatchetTree", "update_path": "UpdatePath"},
	"transcript-hashes.json": {"authenticated_content": "AuthenticatedContent"},
	"message-protection.json": {
		"proposal": "Proposal", "proposal_pub": "MLSMessage", "proposal_priv": "MLSMessage",
		"commit": "Commit", "commit_pub": "MLSMessage", "commit_priv": "MLSMessage", "application_priv": "MLSMessage",
	},
	"passive-client-*.json": {
		"key_package": "MLSMessage", "welcome": "MLSMessage", "ratchet_tree": "RatchetTree",
		"proposals": "MLSMessage", "commit": "MLSMessage",
	},
}

type tally struct{ ok, failed int }

func summary(dir string, out io.Writer) error {
	start := time.Now()
	counts := map[string]*tally{}
	var firstErr []string
	files := 0
	for pattern, fields := range vectorFields {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, path := range matches {
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var doc any
			if err := json.Unmarshal(raw, &doc); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			files++
			walk(doc, "", func(key, value string) {
				typ, ok := fields[key]
				if !ok || value == "" {
					return
				}
				data, err := hex.DecodeString(value)
				if err != nil {
					return
				}
				v, err := decode(typ, data)
				name := typ
				if m, ok := v.(*codec.MLSMessage); ok {
					name = "MLSMessage(" + m.WireFormat.String() + ")"
				}
				t := counts[name]
				if t == nil {
					t = &tally{}
					counts[name] = t
				}
				if err != nil {
					t.failed++
					if len(firstErr) < 10 {
						firstErr = append(firstErr, fmt.Sprintf("%s %s: %v", filepath.Base(path), key, err))
					}
					return
				}
				t.ok++
			})
		}
	}
	if files == 0 {
		return fmt.Errorf("no test vectors in %s (set MLS_TEST_VECTORS)", dir)
	}
	var names []string
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(out, "Decoded the wire objects of %d vector files in %s\n\n", files, dir)
	fmt.Fprintf(out, "%-40s %8s %8s\n", "type", "decoded", "failed")
	total, failed := 0, 0
	for _, n := range names {
		fmt.Fprintf(out, "%-40s %8d %8d\n", n, counts[n].ok, counts[n].failed)
		total += counts[n].ok
		failed += counts[n].failed
	}
	fmt.Fprintf(out, "%-40s %8d %8d   (%v)\n", "total", total, failed, time.Since(start).Round(time.Millisecond))
	for _, e := range firstErr {
		fmt.Fprintln(out, "  ", e)
	}
	if failed > 0 {
		return fmt.Errorf("%d objects failed to decode", failed)
	}
	return nil
}

// walk calls fn for every string value in a JSON document, with the key of
// the nearest enclosing object field.
func walk(v any, key string, fn func(key, value string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			walk(x, k, fn)
		}
	case []any:
		for _, x := range v {
			walk(x, key, fn)
		}
	case string:
		fn(key, v)
	}
}
