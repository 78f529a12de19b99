package postgres

// ProbeCap exposes probeCap to the tests, which need more matches than it
// to reach the walk in id order.
const ProbeCap = probeCap

// MigrationFiles exposes the embedded schema steps, whose count the tests
// compare with the rows of peerhub_schema_migrations.
var MigrationFiles = migrationFiles
