"""Multirun results -> paper tables (Markdown, CSV, LaTeX) and plots; reads only results.json files."""
