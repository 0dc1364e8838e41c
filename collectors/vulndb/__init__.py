"""The offline vulnerability database: OSV records imported into SQLite, and each ecosystem's version order."""
