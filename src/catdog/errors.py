"""Errors a user can act on. Each class maps to one CLI exit code."""

from __future__ import annotations


class CatdogError(Exception):
    """Base for expected errors: the message says what is wrong and how to fix it."""

    exit_code = 1


class UsageError(CatdogError):
    """A flag or argument is wrong."""

    exit_code = 2


class DataError(CatdogError):
    """A data source cannot be used: missing, wrong schema, wrong labels, empty."""

    exit_code = 3


class ModelError(CatdogError):
    """A model or its weights cannot be found or loaded."""

    exit_code = 4


class DecodeError(CatdogError):
    """One photo cannot be decoded. Runs skip and report it instead of stopping."""

    exit_code = 3


class ClusterError(CatdogError):
    """A Ray cluster cannot be used: unreachable, refused our token, or too small for --workers."""

    exit_code = 5
