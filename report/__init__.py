"""Turns stored results into the report: context, jinja2 environment, HTML and PDF."""
