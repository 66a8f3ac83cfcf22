package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/store"
)

func (a *App) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the database schema",
		Long: `Apply the embedded, forward-only SQL migrations that the database does not
have yet. Safe to run again, and from several processes at once.

When the database that KIZUNA_DATABASE_URL names does not exist, migrate
creates it first (the user needs the CREATEDB privilege; otherwise create it
once by hand with createdb). Other commands never create a database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, created, err := store.CreateDatabase(cmd.Context(), a.cfg.DatabaseURL)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(a.Stdout, "created database %s\n", name)
			}
			db, err := a.DB(cmd.Context())
			if err != nil {
				return err
			}
			applied, err := store.Migrate(cmd.Context(), db)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(a.Stdout, "database schema is up to date")
				return nil
			}
			for _, name := range applied {
				fmt.Fprintf(a.Stdout, "applied %s\n", name)
			}
			return nil
		},
	}
}
