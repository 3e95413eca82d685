"""Test support shipped with the library: throwaway servers, fakes and contract tests.

* :mod:`ecampus_idm.testing.slapd` starts a throwaway OpenLDAP, and
  :mod:`ecampus_idm.testing.postgres` a throwaway PostgreSQL;
  :mod:`ecampus_idm.testing.container` runs OpenLDAP through testcontainers instead;
* :mod:`ecampus_idm.testing.plugin` is the pytest plugin, registered through the
  ``pytest11`` entry point, so a service that installs ecampus-idm gets the fixtures with no
  conftest: ``ldap_server``, ``ldap_directory``, ``memory_directory``, ``postgres_server``,
  ``postgres_store``, ``sqlite_store``, ``memory_store``;
* :mod:`ecampus_idm.testing.contracts` (``DirectoryContract``),
  :mod:`ecampus_idm.testing.sync_contract` (``SyncContract``) and
  :mod:`ecampus_idm.testing.store_contract` (``StoreContract``) hold the contract tests
  that every implementation of a port must pass.
"""
