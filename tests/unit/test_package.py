"""The package as users see it: public API, light imports, dependency choices."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import ecampus_idm


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


@pytest.mark.parametrize(
    "statement",
    [
        "import ecampus_idm",
        "import ecampus_idm.directory",
        "import ecampus_idm.passwords",
        "import ecampus_idm.config",
    ],
    ids=["package", "directory", "passwords", "config"],
)
def test_light_imports_load_no_ldap_client(statement: str) -> None:
    """Importing the package or its light parts loads neither ldap3 nor pyasn1."""
    loaded = _modules_after(statement)
    assert "ldap3" not in loaded
    assert "pyasn1" not in loaded


def test_adapter_import_does_load_ldap3() -> None:
    """The check above can fail: importing the adapter does load ldap3."""
    assert "ldap3" in _modules_after("import ecampus_idm.directory.ldap")


def test_public_api_is_pinned() -> None:
    """The names exported by the package are exactly the documented ones."""
    assert sorted(ecampus_idm.__all__) == [
        "AcademicYear",
        "Account",
        "AccountStatus",
        "Attribution",
        "Category",
        "Clock",
        "ConfigError",
        "DirectoryError",
        "DirectoryUnavailableError",
        "Enrolment",
        "FixedClock",
        "IdmError",
        "Person",
        "Role",
        "School",
        "Settings",
        "SourceKey",
        "StaffFunction",
        "SystemClock",
        "__version__",
        "load_config",
    ]
    for name in ecampus_idm.__all__:
        assert hasattr(ecampus_idm, name)


def test_passlib_comes_from_libpass() -> None:
    """The passlib import is provided by libpass, never by the unmaintained 2020 release."""
    assert importlib.metadata.version("libpass")
    requires = importlib.metadata.requires("ecampus-idm") or []
    assert not any(r.split()[0].lower().startswith("passlib") for r in requires)


def test_pytest_plugin_is_registered() -> None:
    """The fixtures reach downstream projects through the pytest11 entry point."""
    points = importlib.metadata.entry_points(group="pytest11")
    assert any(p.value == "ecampus_idm.testing.plugin" for p in points)
