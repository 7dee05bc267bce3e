"""Kept for tools and OSS deployments that install with setup.py; metadata lives in pyproject.toml."""

from setuptools import setup

setup()
