package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/peerhub/peerhub/peer/session"
)

// PasswordEnv is the environment variable that carries a password, so it
// never has to appear on a command line.
const PasswordEnv = "PEERHUB_PASSWORD"

// clientOptions are the flags of every command that talks to a directory as
// a user.
type clientOptions struct {
	directory    string
	user         string
	passwordFile string
	json         bool
}

func (o *clientOptions) bind(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&o.directory, "directory", "http://127.0.0.1:8000", "URL of the directory (or of a peer, which forwards searches: then the password goes to the directory the peer names, and the peer gets read tokens only)")
	fs.StringVar(&o.user, "user", "", "account to log in as (the password comes from $"+PasswordEnv+", --password-file, or a prompt)")
	fs.StringVar(&o.passwordFile, "password-file", "", "file whose first line is the password")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
}

// Validate checks the flags.
func (o *clientOptions) Validate() error {
	if o.directory == "" {
		return errors.New("--directory is empty")
	}
	if !strings.HasPrefix(o.directory, "http://") && !strings.HasPrefix(o.directory, "https://") {
		return fmt.Errorf("--directory %q: want an http:// or https:// URL", o.directory)
	}
	if o.user == "" {
		return fmt.Errorf("no account: give --user NAME or set %s", EnvName("user"))
	}
	return nil
}

// readPassword finds the password: the environment, then --password-file,
// then a prompt without echo when standard input is a terminal.
func readPassword(g *globals, file string, prompt string) (string, error) {
	if v, ok := g.streams.env(PasswordEnv); ok && v != "" {
		return v, nil
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		defer f.Close()
		return firstLine(f)
	}
	if f, ok := g.streams.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(g.streams.Err, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.streams.Err)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("no password: set %s, give --password-file, or run on a terminal to be asked", PasswordEnv)
}

// firstLine reads the first line of r, without its line ending.
func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("the password is empty")
	}
	return line, nil
}

// login opens a client session at the directory.
func (o *clientOptions) login(ctx context.Context, g *globals) (*session.Session, error) {
	if err := o.Validate(); err != nil {
		return nil, usageError{err}
	}
	pw, err := readPassword(g, o.passwordFile, "Password for "+o.user+": ")
	if err != nil {
		return nil, err
	}
	s := session.New(session.Config{Directory: o.directory, Username: o.user, Password: pw, Logger: g.logger})
	if err := s.Login(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// withSession logs in, runs fn with the session, and logs out, so that a
// one-shot command leaves no session behind for its TTL.
func (o *clientOptions) withSession(ctx context.Context, g *globals, fn func(*session.Session) error) error {
	s, err := o.login(ctx, g)
	if err != nil {
		return err
	}
	defer s.Logout(context.WithoutCancel(ctx))
	return fn(s)
}
