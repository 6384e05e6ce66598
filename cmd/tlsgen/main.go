// Command tlsgen generates Go types, encoders, decoders and validators from
// schemas written in the TLS presentation language (RFC 8446 §3) with the
// additions of RFC 9420 (MLS vectors <V>, optional<T>) and a few annotations.
//
// Usage:
//
//	tlsgen -package codec -o rfc9420_gen.go schema/rfc9420.tls [more.tls ...]
//
// The files are read in order and resolved together, so one file can extend
// the enums and selects of another. The output's import path is found from
// the enclosing go.mod unless -pkgpath is given; generated code uses the
// runtime package named by -runtime (default github.com/mlskit/mlskit/codec).
// See the package documentation of github.com/mlskit/mlskit/gen for the
// schema language.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlskit/mlskit/gen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tlsgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tlsgen", flag.ContinueOnError)
	pkg := fs.String("package", "", "package name of the generated file (required)")
	out := fs.String("o", "", "output file (required)")
	pkgPath := fs.String("pkgpath", "", "import path of the output package (default: from go.mod)")
	runtime := fs.String("runtime", gen.DefaultRuntimePath, "import path of the codec runtime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pkg == "" || *out == "" || fs.NArg() == 0 {
		return errors.New("usage: tlsgen -package name -o file.go schema.tls [schema.tls ...]")
	}
	var files []*gen.File
	for _, name := range fs.Args() {
		src, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		f, err := gen.Parse(filepath.ToSlash(name), string(src))
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	schema, err := gen.Resolve(files...)
	if err != nil {
		return err
	}
	if *pkgPath == "" {
		if *pkgPath, err = importPath(filepath.Dir(*out)); err != nil {
			return err
		}
	}
	code, err := gen.Generate(schema, gen.Options{Package: *pkg, PkgPath: *pkgPath, RuntimePath: *runtime})
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, code) {
		return nil // unchanged: keep the file's time stamp
	}
	return os.WriteFile(*out, code, 0o644)
}

// importPath finds the import path of dir from the nearest go.mod above it.
func importPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if mod, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
					rel, err := filepath.Rel(d, abs)
					if err != nil {
						return "", err
					}
					if rel == "." {
						return strings.TrimSpace(mod), nil
					}
					return strings.TrimSpace(mod) + "/" + filepath.ToSlash(rel), nil
				}
			}
			return "", fmt.Errorf("%s/go.mod has no module line", d)
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no go.mod above the output file; give -pkgpath")
		}
	}
}
