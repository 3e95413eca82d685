"""Package data of the passwords package: the common-passwords blocklist."""
