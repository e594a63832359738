// Package records implements `atoauth records`: list, get, create, put and
// delete records in a repository.
package records

import (
	"context"
	"encoding/json"
	"strings"
	"text/tabwriter"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/spf13/cobra"
)

const maxRecord = 1 << 20

// NewCmd returns `atoauth records` and its subcommands.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "records",
		Short: "List, get, create, put and delete records",
		Example: `  atoauth records list app.bsky.feed.post --limit 5
  atoauth records get at://did:plc:abc/app.bsky.feed.post/3k2a
  echo '{"$type":"app.bsky.feed.post","text":"hi","createdAt":"2026-11-27T12:00:00Z"}' | atoauth records create app.bsky.feed.post -
  atoauth records put app.bsky.actor.profile self profile.json
  atoauth records delete at://did:plc:abc/app.bsky.feed.post/3k2a`,
	}
	cmd.AddCommand(newList(f), newGet(f), newCreate(f), newPut(f), newDelete(f))
	return cmd
}

// ListOptions are the inputs of `records list`.
type ListOptions struct {
	Factory    *cmdutil.Factory
	Collection string
	Repo       string
	Limit      int
	All        bool
	JSON       bool
}

func newList(f *cmdutil.Factory) *cobra.Command {
	o := &ListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "list <collection>",
		Short:   "List the records of a collection",
		Example: "  atoauth records list app.bsky.feed.post --limit 10\n  atoauth records list app.bsky.graph.follow --repo bob.test --all --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Collection = args[0]
			return RunList(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Repo, "repo", "", "repository (DID or handle; default: yours)")
	cmd.Flags().IntVar(&o.Limit, "limit", 50, "how many records (a page of at most 100 unless --all)")
	cmd.Flags().BoolVar(&o.All, "all", false, "follow the cursor through every page")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

// RunList lists records.
func RunList(ctx context.Context, o *ListOptions) error {
	f := o.Factory
	if o.Limit < 1 {
		return cmdutil.Usagef("--limit must be at least 1")
	}
	a, err := f.Agent(ctx)
	if err != nil {
		return err
	}
	page := min(o.Limit, 100)
	var recs []*agent.Record
	for rec, err := range a.ListRecords(ctx, o.Repo, o.Collection, &agent.ListOptions{Limit: page}) {
		if err != nil {
			return err
		}
		recs = append(recs, rec)
		if !o.All && len(recs) >= o.Limit {
			break
		}
	}
	if o.JSON {
		if recs == nil {
			recs = []*agent.Record{}
		}
		return cmdutil.PrintJSON(f.IO.Out, recs)
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	cmdutil.Fprintf(tw, "URI\tCID\tVALUE\n")
	for _, r := range recs {
		cmdutil.Fprintf(tw, "%s\t%s\t%s\n", r.URI, r.CID, summary(r.Value))
	}
	return tw.Flush()
}

// summary shortens a record for the table (the caller escapes it).
func summary(v json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(v, &m) == nil {
		for _, k := range []string{"text", "displayName", "subject", "name"} {
			if s, ok := m[k].(string); ok {
				return clip(s)
			}
		}
	}
	return clip(string(v))
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 60 {
		return string(r[:59]) + "…"
	}
	return s
}

func newGet(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "get <at-uri>",
		Short:   "Print one record as JSON",
		Example: "  atoauth records get at://did:plc:abc/app.bsky.actor.profile/self",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			repo, coll, rkey, err := cmdutil.RecordURI(args[0])
			if err != nil {
				return err
			}
			a, err := f.Agent(ctx)
			if err != nil {
				return err
			}
			rec, err := a.GetRecord(ctx, repo, coll, rkey)
			if err != nil {
				return err
			}
			return cmdutil.PrintJSON(f.IO.Out, rec)
		},
	}
}

func readRecord(f *cmdutil.Factory, name string) (json.RawMessage, error) {
	b, err := cmdutil.ReadInput(f.IO, name, maxRecord)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, cmdutil.Usagef("%s is not JSON", name)
	}
	return json.RawMessage(b), nil
}

func printWrite(f *cmdutil.Factory, res *agent.WriteResult) error {
	return cmdutil.PrintJSON(f.IO.Out, map[string]string{"uri": res.URI, "cid": res.CID})
}

func newCreate(f *cmdutil.Factory) *cobra.Command {
	var rkey string
	cmd := &cobra.Command{
		Use:     "create <collection> <file|->",
		Short:   "Create a record from a JSON file (- reads standard input)",
		Example: "  atoauth records create app.bsky.feed.post post.json",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			rec, err := readRecord(f, args[1])
			if err != nil {
				return err
			}
			a, err := f.Agent(ctx)
			if err != nil {
				return err
			}
			res, err := a.CreateRecord(ctx, args[0], rec, &agent.WriteOptions{RKey: rkey})
			if err != nil {
				return err
			}
			return printWrite(f, res)
		},
	}
	cmd.Flags().StringVar(&rkey, "rkey", "", "record key (default: a new TID)")
	return cmd
}

func newPut(f *cmdutil.Factory) *cobra.Command {
	var swap string
	cmd := &cobra.Command{
		Use:     "put <collection> <rkey> <file|->",
		Short:   "Create or replace a record from a JSON file",
		Example: "  atoauth records put app.bsky.actor.profile self profile.json --swap bafyrei…",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			rec, err := readRecord(f, args[2])
			if err != nil {
				return err
			}
			a, err := f.Agent(ctx)
			if err != nil {
				return err
			}
			res, err := a.PutRecord(ctx, args[0], args[1], rec, &agent.WriteOptions{SwapRecord: swap})
			if err != nil {
				return err
			}
			return printWrite(f, res)
		},
	}
	cmd.Flags().StringVar(&swap, "swap", "", "replace only if the record's current CID is this")
	return cmd
}

func newDelete(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "delete <at-uri>",
		Short:   "Delete a record",
		Example: "  atoauth records delete at://did:plc:abc/app.bsky.feed.post/3k2a",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			repo, coll, rkey, err := cmdutil.RecordURI(args[0])
			if err != nil {
				return err
			}
			a, err := f.Agent(ctx)
			if err != nil {
				return err
			}
			if repo != a.DID().String() && repo != a.Handle().String() {
				return cmdutil.Usagef("%s is not in your repository (%s)", args[0], a.DID())
			}
			if _, err := a.DeleteRecord(ctx, coll, rkey, nil); err != nil {
				return err
			}
			cmdutil.Fprintf(f.IO.Out, "Deleted %s\n", args[0])
			return nil
		},
	}
}
