"""Verb-named, keyword-only service functions; one call is one transaction."""
