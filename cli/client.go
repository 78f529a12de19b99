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
	fs.StringVar(&o.directory, "directory", "https://127.0.0.1:8000", "URL of the directory, with its pin after # to trust its key without asking (https://HOST:PORT#sha256//…, printed by the directory); without one the key is trusted on first use and remembered in the config folder's known_hosts (or of a peer, which forwards searches: then the password goes to the directory the peer names, and the peer gets read tokens only)")
	fs.StringVar(&o.user, "user", "", "account to log in as (the password comes from $"+PasswordEnv+", --password-file, the login stored by peerhub login, or a prompt)")
	fs.StringVar(&o.passwordFile, "password-file", "", "file whose first line is the password")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
}

// Validate checks the flags.
func (o *clientOptions) Validate() error {
	if err := o.validateDirectory(); err != nil {
		return err
	}
	if o.user == "" {
		return fmt.Errorf("no account: give --user NAME or set %s", EnvName("user"))
	}
	return nil
}

// validateDirectory checks --directory.
func (o *clientOptions) validateDirectory() error {
	if o.directory == "" {
		return errors.New("--directory is empty")
	}
	if !strings.HasPrefix(o.directory, "http://") && !strings.HasPrefix(o.directory, "https://") {
		return fmt.Errorf("--directory %q: want an http:// or https:// URL", o.directory)
	}
	return nil
}

// readPassword finds the password: the environment, then --password-file,
// then a prompt without echo when standard input is a terminal.
func readPassword(g *globals, file string, prompt string) (string, error) {
	if pw, ok, err := givenPassword(g, file); ok || err != nil {
		return pw, err
	}
	return promptPassword(g, prompt)
}

// givenPassword is the password from the environment or --password-file,
// if either gives one.
func givenPassword(g *globals, file string) (string, bool, error) {
	if v, ok := g.streams.env(PasswordEnv); ok && v != "" {
		return v, true, nil
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", false, fmt.Errorf("password file: %w", err)
		}
		defer f.Close()
		pw, err := firstLine(f)
		return pw, err == nil, err
	}
	return "", false, nil
}

// promptPassword asks for the password without echo when standard input
// is a terminal.
func promptPassword(g *globals, prompt string) (string, error) {
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

// login opens a client session at the directory: with the password from
// the environment or --password-file if given, else with the login that
// `peerhub login` stored for this directory (and --user, if given; no
// password check then), else with a password typed at a prompt.
func (o *clientOptions) login(ctx context.Context, g *globals) (*session.Session, error) {
	cfg, err := o.sessionConfig(g)
	if err != nil {
		return nil, err
	}
	s := session.New(cfg)
	if err := s.Login(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// sessionConfig finds the credentials of a client session (see login).
func (o *clientOptions) sessionConfig(g *globals) (session.Config, error) {
	if err := o.validateDirectory(); err != nil {
		return session.Config{}, usageError{err}
	}
	cfg := session.Config{Directory: o.directory, Username: o.user, Logger: g.logger, KnownHosts: knownHosts(g)}
	pw, ok, err := givenPassword(g, o.passwordFile)
	if err != nil {
		return session.Config{}, err
	}
	if !ok {
		logins, _, err := loadLogins(g)
		if err != nil {
			return session.Config{}, err
		}
		if i := findLogin(logins, o.directory, o.user); i >= 0 {
			cfg.Username, cfg.RefreshToken = logins[i].Username, logins[i].RefreshToken
			return cfg, nil
		}
	}
	if err := o.Validate(); err != nil {
		return session.Config{}, usageError{err}
	}
	if !ok {
		if pw, err = promptPassword(g, "Password for "+o.user+": "); err != nil {
			return session.Config{}, fmt.Errorf("%w, or run peerhub login once", err)
		}
	}
	cfg.Password = pw
	return cfg, nil
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
