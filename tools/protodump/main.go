// Command protodump writes the third-party .proto files that peerhub's
// contract imports (buf/validate/validate.proto, google/api/annotations.proto,
// google/api/http.proto) into a directory, printed back from the descriptors
// compiled into their Go modules.
//
// Why: no Go module ships these files as source, and no schema registry can be
// reached from a build machine, yet buf needs them to compile proto/. The Go
// modules that peerhub links against already embed the exact descriptors, so
// printing them gives the same schema the binary uses at run time, with no
// network and no hand-copied files. The output directory (third_party/) is
// git-ignored and refilled by `make generate` and `make lint`.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jhump/protoreflect/desc"
	"github.com/jhump/protoreflect/desc/protoprint"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Imported for their side effect: registering the descriptors we print.
	_ "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	_ "google.golang.org/genproto/googleapis/api/annotations"
)

// files are the imports that proto/ needs and no module ships as source.
var files = []string{
	"buf/validate/validate.proto",
	"google/api/annotations.proto",
	"google/api/http.proto",
}

func main() {
	out := flag.String("out", "third_party", "directory to write the .proto files into")
	flag.Parse()
	if err := dump(*out); err != nil {
		fmt.Fprintln(os.Stderr, "protodump:", err)
		os.Exit(1)
	}
}

func dump(out string) error {
	printer := &protoprint.Printer{}
	for _, name := range files {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(name)
		if err != nil {
			return fmt.Errorf("find %s: %w", name, err)
		}
		wrapped, err := desc.WrapFile(fd)
		if err != nil {
			return fmt.Errorf("wrap %s: %w", name, err)
		}
		if err := write(printer, out, fd, wrapped); err != nil {
			return err
		}
	}
	return nil
}

func write(printer *protoprint.Printer, out string, fd protoreflect.FileDescriptor, wrapped *desc.FileDescriptor) error {
	path := filepath.Join(out, filepath.FromSlash(fd.Path()))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("mkdir for %s: %w", fd.Path(), err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := printer.PrintProtoFile(wrapped, f); err != nil {
		f.Close()
		return fmt.Errorf("print %s: %w", fd.Path(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
