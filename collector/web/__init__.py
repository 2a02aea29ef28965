"""Read-only web dashboard for managers: server, login, pages, inline SVG charts, local static files."""
