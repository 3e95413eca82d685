"""OpenLDAP cn=config schema files: eduPerson, SCHAC and ecampus."""
