"""Wiring and storage: settings, app factory, middlewares, database, i18n, run modes."""
