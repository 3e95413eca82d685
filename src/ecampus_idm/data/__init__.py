"""Data files shipped with the package: demo configuration and LDAP schemas."""
