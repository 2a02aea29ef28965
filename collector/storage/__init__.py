"""The database: connection, schema and migrations, the rows and rollups a rating is stored as."""
