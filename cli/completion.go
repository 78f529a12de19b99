package cli

import (
	"context"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/peer/session"
)

// Shell completion of the names a directory knows: file names for the
// argument of get and search, peer names for put --to and files --peer.
const (
	// completionTimeout bounds everything a completion does (log in, ask,
	// log out): a shell waits for it on every Tab.
	completionTimeout = 2 * time.Second
	// completionLimit is the most names a completion offers.
	completionLimit = 200
)

// addNameCompletions registers the name completions on the commands of
// root that take names. They need a session that opens without asking
// anything (the password from $PEERHUB_PASSWORD or --password-file); without
// one, or if the directory does not answer in time, they offer nothing and
// say nothing.
func addNameCompletions(root *cobra.Command, g *globals) {
	for _, c := range root.Commands() {
		switch c.Name() {
		case "get", "search":
			several := c.Name() == "get" // get NAME...; search QUERY
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) > 0 && !several {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return completeNames(cmd, g, toComplete, fileNames), cobra.ShellCompDirectiveNoFileComp
			}
			if several {
				_ = c.RegisterFlagCompletionFunc("folder", func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
					return completeNames(cmd, g, toComplete, folderNames), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
				})
			}
		case "put":
			_ = c.RegisterFlagCompletionFunc("to", peerCompletion(g))
		case "files":
			_ = c.RegisterFlagCompletionFunc("peer", peerCompletion(g))
		}
	}
}

// peerCompletion completes a flag whose value is an online peer's name.
func peerCompletion(g *globals) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completeNames(cmd, g, toComplete, peerNames), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNames opens a session from cmd's flags and environment, without
// prompting, and returns the names list finds that start with toComplete
// (in any case: shells match case-insensitively if told so), sorted;
// nothing on any failure.
func completeNames(cmd *cobra.Command, g *globals, toComplete string,
	list func(context.Context, *session.Session, string) ([]string, error)) []cobra.Completion {
	// cobra runs no PersistentPreRun before a completion: the environment
	// is applied here.
	if applyEnv(cmd, g.streams.env) != nil {
		return nil
	}
	flag := func(name string) string {
		if f := cmd.Flags().Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	o := clientOptions{directory: flag("directory"), user: flag("user"), passwordFile: flag("password-file")}
	// No standard input: a completion never prompts for a password.
	quiet := &globals{streams: Streams{Out: g.streams.Out, Err: g.streams.Err, LookupEnv: g.streams.LookupEnv}, logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	var names []string
	err := o.withSession(ctx, quiet, func(s *session.Session) error {
		var err error
		names, err = list(ctx, s, toComplete)
		return err
	})
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, n := range names {
		if len(n) >= len(toComplete) && strings.EqualFold(n[:len(toComplete)], toComplete) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// fileNames lists shared file names that may start with prefix: those a
// name search for it finds, or, for a prefix too short to search for, the
// first files listed.
func fileNames(ctx context.Context, s *session.Session, prefix string) ([]string, error) {
	var names []string
	if utf8.RuneCountInString(prefix) >= 3 {
		res, err := s.Client().Search(ctx, connect.NewRequest(&directoryv1.SearchRequest{Query: prefix, PageSize: completionLimit}))
		if err != nil {
			return nil, err
		}
		for _, r := range res.Msg.GetResults() {
			names = append(names, r.GetNames()...)
		}
		return names, nil
	}
	res, err := s.Client().ListFiles(ctx, connect.NewRequest(&directoryv1.ListFilesRequest{PageSize: completionLimit}))
	if err != nil {
		return nil, err
	}
	for _, f := range res.Msg.GetFiles() {
		names = append(names, f.GetFile().GetName())
	}
	return names, nil
}

// peerNames lists the names of the first completionLimit online peers, by
// name.
func peerNames(ctx context.Context, s *session.Session, _ string) ([]string, error) {
	res, err := s.Client().ListPeers(ctx, connect.NewRequest(&directoryv1.ListPeersRequest{PageSize: completionLimit}))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range res.Msg.GetPeers() {
		names = append(names, p.GetName())
	}
	return names, nil
}

// folderNames completes get --folder PEER:PATH: before the colon, the
// online peers' names followed by one; after it, the folders that peer's
// first completionLimit files are in.
func folderNames(ctx context.Context, s *session.Session, prefix string) ([]string, error) {
	peer, _, ok := strings.Cut(prefix, ":")
	if !ok {
		peers, err := peerNames(ctx, s, prefix)
		for i := range peers {
			peers[i] += ":"
		}
		return peers, err
	}
	res, err := s.Client().ListFiles(ctx, connect.NewRequest(&directoryv1.ListFilesRequest{Peer: peer, PageSize: completionLimit}))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range res.Msg.GetFiles() {
		for d := path.Dir(f.GetFile().GetName()); d != "."; d = path.Dir(d) {
			names = append(names, peer+":"+d)
		}
	}
	return names, nil
}
