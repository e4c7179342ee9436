// Package migrations embeds the versioned SQL migrations, one folder per
// database dialect (goose format).
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
