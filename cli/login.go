package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peerhub/peerhub/peer/session"
)

func init() { commands = append(commands, newLoginCommand, newLogoutCommand) }

// newLoginCommand is "peerhub login": check the password once and store a
// refresh token, so later commands need no password.
func newLoginCommand(g *globals) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in once and store a refresh token, so later commands need no password",
		Long: `Login checks your password at the directory once and stores the refresh
token it issues (never the password) in $` + ConfigDirEnv + `/` + credentialsFile + `, by default
in your config folder (` + "`os.UserConfigDir()`" + `/peerhub: ~/.config/peerhub on
Linux), readable by you only (0600). Later commands to the same directory
use it instead of a password, until it expires (30 days by default) or
peerhub logout revokes it. A password given in $` + PasswordEnv + ` or with
--password-file still wins.`,
		Example: `  peerhub login --directory http://dir.example:8000 --user alice
  peerhub search song --directory http://dir.example:8000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			pw, err := readPassword(g, o.passwordFile, "Password for "+o.user+": ")
			if err != nil {
				return err
			}
			s := session.New(session.Config{Directory: o.directory, Username: o.user, Password: pw, WantRefresh: true, Logger: g.logger, KnownHosts: knownHosts(g)})
			if err := s.Login(cmd.Context()); err != nil {
				return err
			}
			r := s.IssuedRefresh()
			if r.Token == "" {
				s.Logout(context.WithoutCancel(cmd.Context()))
				return errors.New("the directory issued no refresh token (is it older than this peerhub?)")
			}
			logins, path, err := loadLogins(g)
			if err != nil {
				s.RevokeAndLogout(context.WithoutCancel(cmd.Context()), r.Token)
				return err
			}
			old := ""
			l := storedLogin{Directory: o.directory, Username: o.user, RefreshToken: r.Token, ExpiresAt: r.ExpiresAt}
			if i := findLogin(logins, o.directory, o.user); i >= 0 {
				old, logins[i] = logins[i].RefreshToken, l
			} else {
				logins = append(logins, l)
			}
			if err := saveLogins(path, logins); err != nil {
				s.RevokeAndLogout(context.WithoutCancel(cmd.Context()), r.Token)
				return err
			}
			// The login that replaced the old refresh token revokes it, so
			// repeated logins do not pile up sessions at the directory.
			if old != "" {
				err = s.RevokeAndLogout(context.WithoutCancel(cmd.Context()), old)
			} else {
				err = s.Logout(context.WithoutCancel(cmd.Context()))
			}
			if err != nil {
				g.logger.Warn("ending the login session", "error", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "logged in as %s at %s; stored in %s until %s\n",
				o.user, o.directory, path, r.ExpiresAt.Local().Format("2006-01-02 15:04"))
			return err
		},
	}
	o.bind(cmd)
	cmd.Flags().Lookup("json").Hidden = true
	envHelp(cmd.Flags())
	return cmd
}

// newLogoutCommand is "peerhub logout": revoke the stored refresh token at
// the directory and remove it.
func newLogoutCommand(g *globals) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Revoke the login peerhub login stored, and remove it",
		Long: `Logout revokes, at the directory, the refresh token peerhub login stored
for it (and --user, when several accounts logged in there), and removes it
from $` + ConfigDirEnv + `/` + credentialsFile + `. The refresh token stops working at once, on
every machine it was copied to.`,
		Example: `  peerhub logout --directory http://dir.example:8000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validateDirectory(); err != nil {
				return usageError{err}
			}
			logins, path, err := loadLogins(g)
			if err != nil {
				return err
			}
			i := findLogin(logins, o.directory, o.user)
			if i < 0 {
				return fmt.Errorf("no stored login for %s at %s", o.user, o.directory)
			}
			l := logins[i]
			s := session.New(session.Config{Directory: o.directory, Username: l.Username, RefreshToken: l.RefreshToken, Logger: g.logger, KnownHosts: knownHosts(g)})
			switch err := s.Login(cmd.Context()); {
			case errors.Is(err, session.ErrLogin):
				// Revoked or expired already: only the file is left.
			case err != nil:
				return fmt.Errorf("revoke the stored login (kept; try again): %w", err)
			default:
				if err := s.RevokeAndLogout(cmd.Context(), l.RefreshToken); err != nil {
					return fmt.Errorf("revoke the stored login (kept; try again): %w", err)
				}
			}
			if err := saveLogins(path, append(logins[:i:i], logins[i+1:]...)); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "logged out %s at %s\n", l.Username, l.Directory)
			return err
		},
	}
	o.bind(cmd)
	cmd.Flags().Lookup("json").Hidden = true
	cmd.Flags().Lookup("password-file").Hidden = true
	envHelp(cmd.Flags())
	return cmd
}
