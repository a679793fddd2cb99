"""A plug-in module whose library is not installed (for MissingDependency tests)."""

import modelport_library_that_does_not_exist  # noqa: F401


class Converter:
    pass
