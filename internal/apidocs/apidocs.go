// Package apidocs serves the API documents that `make generate` builds from
// proto/ into gen/apidocs: a service's OpenAPI document at /openapi.json,
// its HTML reference at /docs, and the services' descriptors with their
// proto comments, for the reflection service (so `grpcurl describe` shows
// them).
package apidocs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/peerhub/peerhub/gen/apidocs"
)

// Routes where Mount serves a service's documents.
const (
	OpenAPIPath = "/openapi.json"
	DocsPath    = "/docs"
)

// docsPolicy is the Content-Security-Policy of the HTML reference: it has
// inline styles and no script, and may load nothing from anywhere (its
// template links a web font and a stylesheet that a browser then skips).
const docsPolicy = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Files embedded by gen/apidocs.
const (
	descriptorFile = "descriptors.binpb"
	openAPIFile    = "openapi.json"
	htmlFile       = "index.html"
)

// descriptors parses the embedded descriptor set once.
var descriptors = sync.OnceValues(loadDescriptors)

// Resolver returns the descriptors of proto/ with their comments (source
// info); the files they import (google/api, buf/validate, well-known types)
// come from the descriptors compiled into the binary. An error means the
// embedded descriptor set is broken, a bug of `make generate`.
func Resolver() (protodesc.Resolver, error) {
	own, err := descriptors()
	if err != nil {
		return nil, err
	}
	return withImports{own}, nil
}

func loadDescriptors() (*protoregistry.Files, error) {
	raw, err := apidocs.Files.ReadFile(descriptorFile)
	if err != nil {
		return nil, fmt.Errorf("embedded descriptors: %w", err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("embedded descriptors: %w", err)
	}
	own := new(protoregistry.Files)
	// buf writes files after the files they import.
	for _, fdp := range set.GetFile() {
		fd, err := protodesc.NewFile(fdp, withImports{own})
		if err != nil {
			return nil, fmt.Errorf("embedded descriptor %s: %w", fdp.GetName(), err)
		}
		if err := own.RegisterFile(fd); err != nil {
			return nil, fmt.Errorf("embedded descriptor %s: %w", fdp.GetName(), err)
		}
	}
	return own, nil
}

// withImports finds a file or name in own first, then among the
// descriptors compiled into the binary.
type withImports struct{ own *protoregistry.Files }

func (r withImports) FindFileByPath(p string) (protoreflect.FileDescriptor, error) {
	if fd, err := r.own.FindFileByPath(p); err == nil {
		return fd, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(p)
}

func (r withImports) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := r.own.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

// Documents are the generated documents of one proto package.
type Documents struct {
	// OpenAPI is the OpenAPI 3.0 document of the package's REST routes
	// (those of its google.api.http annotations), as JSON.
	OpenAPI []byte
	// HTML is the package's reference: every service, method and message
	// with its proto comment.
	HTML []byte
}

// For returns the documents of the proto package that declares service, a
// fully-qualified name such as "peerhub.directory.v1.DirectoryService".
func For(service string) (Documents, error) {
	own, err := descriptors()
	if err != nil {
		return Documents{}, err
	}
	d, err := own.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return Documents{}, fmt.Errorf("service %s: %w", service, err)
	}
	if _, ok := d.(protoreflect.ServiceDescriptor); !ok {
		return Documents{}, fmt.Errorf("%s is not a service", service)
	}
	// The generators write each package's documents into the package's
	// folder, the folder of its .proto files.
	dir := path.Dir(d.ParentFile().Path())
	var docs Documents
	if docs.OpenAPI, err = apidocs.Files.ReadFile(path.Join(dir, openAPIFile)); err != nil {
		return Documents{}, fmt.Errorf("service %s: %w", service, err)
	}
	if docs.HTML, err = apidocs.Files.ReadFile(path.Join(dir, htmlFile)); err != nil {
		return Documents{}, fmt.Errorf("service %s: %w", service, err)
	}
	return docs, nil
}

// Mount serves the documents of service's package on mux: GET (and HEAD)
// OpenAPIPath and DocsPath.
func Mount(mux *http.ServeMux, service string) error {
	docs, err := For(service)
	if err != nil {
		return err
	}
	mux.Handle("GET "+OpenAPIPath, document(docs.OpenAPI, "application/json", ""))
	mux.Handle("GET "+DocsPath, document(docs.HTML, "text/html; charset=utf-8", docsPolicy))
	return nil
}

// document serves a fixed body with an ETag of its content, so browsers
// revalidate it cheaply and see a new one after an upgrade.
func document(body []byte, contentType, policy string) http.Handler {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", etag)
		if policy != "" {
			h.Set("Content-Security-Policy", policy)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}
