package directory

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/peerhub/peerhub/server/store"
)

// Limits of account names and passwords.
const (
	// MaxNameLen is the longest username or peer name, in characters.
	MaxNameLen = 64
	// MaxPasswordBytes is the longest password bcrypt can hash, in bytes.
	MaxPasswordBytes = 72
)

// nameRE is the rule for usernames and peer names (LoginRequest.username).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CheckName reports whether name is acceptable as a username or peer name:
// letters, digits, '.', '_' or '-', 1 to MaxNameLen characters, starting
// with a letter or digit. The error wraps ErrInvalidArgument.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLen || !nameRE.MatchString(name) {
		return fmt.Errorf("name %q: want letters, digits, '.', '_' or '-', 1 to %d characters, starting with a letter or digit: %w", truncate(name, MaxNameLen), MaxNameLen, ErrInvalidArgument)
	}
	return nil
}

// checkPasswordLength refuses an empty password, or one longer than
// MaxPasswordBytes, which bcrypt would cut silently: at login as at
// account creation, so that no password is ever accepted for what its
// first 72 bytes say. The error wraps ErrInvalidArgument.
func checkPasswordLength(password string) error {
	if password == "" || len(password) > MaxPasswordBytes {
		return fmt.Errorf("password: want 1 to %d bytes (bcrypt would ignore the rest), got %d: %w", MaxPasswordBytes, len(password), ErrInvalidArgument)
	}
	return nil
}

// readOnlyHash marks a store account that only exists so that sessions of
// an accounts-file user have an account row to belong to. It is not a bcrypt
// hash, so no password ever matches it: the accounts file alone decides
// whether such a user may log in.
var readOnlyHash = []byte("!accounts-file")

// User is an account as the user commands list it.
type User struct {
	// Name is the login name.
	Name string
	// Created is when the account was added; zero for accounts-file users.
	Created time.Time
	// ReadOnly is true for users of the accounts file, which the directory
	// cannot change.
	ReadOnly bool
}

// AddUser creates an account with a bcrypt hash of password.
// Errors: ErrInvalidArgument for a bad name or a password that is empty or
// longer than MaxPasswordBytes; ErrAlreadyExists if the name is taken (in the
// store or the accounts file).
func (d *Directory) AddUser(ctx context.Context, name, password string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := checkPasswordLength(password); err != nil {
		return err
	}
	if _, ok := d.readOnly[name]; ok {
		return fmt.Errorf("user %s is defined in the accounts file %s: %w", name, d.cfg.AccountsFile, ErrAlreadyExists)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), d.cfg.PasswordCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	a := store.Account{Name: name, PasswordHash: hash, Created: d.cfg.Now()}
	err = d.store.CreateAccount(ctx, a)
	if errors.Is(err, store.ErrAlreadyExists) {
		// A placeholder left by a user since removed from the accounts file
		// gives way to a real account.
		old, getErr := d.store.GetAccount(ctx, name)
		if getErr == nil && bytes.Equal(old.PasswordHash, readOnlyHash) {
			err = d.store.DeleteAccount(ctx, name, d.cfg.Now())
			d.sessionsEnded()
			if err == nil {
				err = d.store.CreateAccount(ctx, a)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("add user %s: %w", name, err)
	}
	d.log.Info("user added", "user", name)
	return nil
}

// ListUsers returns every user, of the store and of the accounts file,
// ordered by name.
func (d *Directory) ListUsers(ctx context.Context) ([]User, error) {
	accounts, err := d.store.ListAccounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users := make([]User, 0, len(accounts)+len(d.readOnly))
	for name := range d.readOnly {
		users = append(users, User{Name: name, ReadOnly: true})
	}
	for _, a := range accounts {
		if _, ok := d.readOnly[a.Name]; ok || bytes.Equal(a.PasswordHash, readOnlyHash) {
			continue // the accounts file decides; a stale placeholder is no user
		}
		users = append(users, User{Name: a.Name, Created: a.Created})
	}
	slices.SortFunc(users, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
	return users, nil
}

// RemoveUser deletes an account; its sessions end, their files leave the
// index, and they are revoked (RevokedSessions), so peers refuse their
// transfer tokens from their next heartbeat on.
// Errors: ErrReadOnly for a user of the accounts file; ErrNotFound.
func (d *Directory) RemoveUser(ctx context.Context, name string) error {
	if _, ok := d.readOnly[name]; ok {
		return fmt.Errorf("user %s is defined in the accounts file %s; remove it there: %w", name, d.cfg.AccountsFile, ErrReadOnly)
	}
	err := d.store.DeleteAccount(ctx, name, d.cfg.Now())
	d.sessionsEnded()
	if err != nil {
		return fmt.Errorf("remove user %s: %w", name, err)
	}
	d.log.Info("user removed", "user", name)
	return nil
}

// checkPassword reports whether password is the named user's, taking about
// the time of one bcrypt comparison whether or not the user exists, so the
// answer's timing does not reveal which accounts exist.
func (d *Directory) checkPassword(ctx context.Context, name, password string) (bool, error) {
	hash, found := d.readOnly[name]
	if !found {
		a, err := d.store.GetAccount(ctx, name)
		switch {
		case err == nil:
			hash, found = a.PasswordHash, true
		case !errors.Is(err, store.ErrNotFound):
			return false, fmt.Errorf("look up account %s: %w", name, err)
		}
	}
	if !found || !isBcrypt(hash) {
		hash = d.dummy()
		found = false
	}
	d.counters.passwordChecks.Add(1)
	ok := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	return ok && found, nil
}

// dummy returns a bcrypt hash of the configured cost that no password
// matches, made once.
func (d *Directory) dummy() []byte {
	d.dummyOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte("peerhub: no such account"), d.cfg.PasswordCost)
		if err != nil {
			// Unreachable: the cost was validated and the password is short.
			h = []byte("$2a$10$invalidinvalidinvalidinvalidinvalidinvalidinvalidinvali")
		}
		d.dummyHash = h
	})
	return d.dummyHash
}

// isBcrypt reports whether hash looks like a bcrypt hash Go can check.
func isBcrypt(hash []byte) bool {
	_, err := bcrypt.Cost(hash)
	return err == nil
}

// LoadHtpasswd reads an htpasswd file of read-only accounts: "name:hash"
// lines, blank lines and "#" comments ignored. Only bcrypt hashes ($2y$,
// $2a$, $2b$, as `htpasswd -B` writes) are accepted; any other line is an
// error naming the file and line, so a misconfiguration stops the start
// instead of locking users out.
func LoadHtpasswd(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("accounts file: %w", err)
	}
	defer f.Close()
	accounts := make(map[string][]byte)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("accounts file %s line %d: want \"name:bcrypt-hash\"", path, n)
		}
		if err := CheckName(name); err != nil {
			return nil, fmt.Errorf("accounts file %s line %d: %w", path, n, err)
		}
		if !(strings.HasPrefix(hash, "$2y$") || strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$")) || !isBcrypt([]byte(hash)) {
			return nil, fmt.Errorf("accounts file %s line %d: user %s: only bcrypt hashes ($2y$, $2a$, $2b$) are supported; create them with `htpasswd -B`", path, n, name)
		}
		if _, dup := accounts[name]; dup {
			return nil, fmt.Errorf("accounts file %s line %d: user %s is listed twice", path, n, name)
		}
		accounts[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("accounts file %s: %w", path, err)
	}
	return accounts, nil
}

// truncate shortens s for an error message, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
