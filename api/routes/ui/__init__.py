"""The web UI: server-rendered pages over the same registry service as REST v1.

Stable URLs: ``/`` (models), ``/models/{name}``, ``/models/{name}/versions/{n}``,
``/models/{name}/compare?a=N&b=M`` and ``/upload``; assets under ``/static/``. Pages
never render a user string as a template (Jinja2 autoescape is on for every file),
and a registry error on a page is an HTML error page, not problem+json.

The page scripts talk to REST v1 for uploads, aliases and live job progress.

- ``_filters``: the Jinja environment, its filters and ``render``;
- ``_views``: the frozen view objects the templates read, built from the registry's;
- ``_errors``: the HTML error page and its status table (``PageRoute``);
- ``_access``: sign-in before the pages when reading needs a token;
- ``_pages``: the routes.
"""

from api.routes.ui._access import SignInNeeded, sign_in_redirect
from api.routes.ui._pages import router

__all__ = ["SignInNeeded", "router", "sign_in_redirect"]
