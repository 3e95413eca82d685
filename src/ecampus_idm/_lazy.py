"""Package attributes loaded on first use (PEP 562), so that importing a package stays light.

The portal imports :mod:`ecampus_idm.passwords`; importing it runs the ``__init__`` of
every package on the way (``ecampus_idm``, ``ecampus_idm.directory``,
``ecampus_idm.store``). Their heavy names (the configuration and its every section, the
in-memory twins) are therefore resolved on first access rather than at import. Each
package still imports them under ``TYPE_CHECKING``, for the type checker and the reader.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, modules: Mapping[str, str]) -> Callable[[str], object]:
    """Build the module ``__getattr__`` of ``package`` for the names of ``modules``.

    Args:
        package: The package's ``__name__``.
        modules: For each lazy name, the module that defines it.

    Returns:
        A function that imports the module on the first access to a name, caches the value
        in the package's namespace and returns it; any other name is an ``AttributeError``.
    """

    def __getattr__(name: str) -> object:  # noqa: N807 - the PEP 562 hook
        try:
            module = modules[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
