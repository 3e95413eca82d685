"""Test support shipped with the library: throwaway servers, fakes and contract tests.

* :mod:`ecampus_idm.testing.slapd` starts a throwaway OpenLDAP;
* :mod:`ecampus_idm.testing.plugin` is the pytest plugin (fixtures ``ldap_server``,
  ``ldap_directory``, ``memory_directory``), registered through the ``pytest11`` entry
  point, so a service that installs ecampus-idm gets the fixtures with no conftest;
* :mod:`ecampus_idm.testing.contracts` holds the contract test classes that every
  implementation of a port must pass.
"""
