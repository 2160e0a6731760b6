"""Development sessions: ``nox -s tests lint typecheck docs`` (``nox -s quick`` for a first try).

Install nox with the ``dev`` extra: ``pip install -e ".[dev]"``.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite; every async test runs on both asyncio and Trio."""
    session.install("-e", ".[engine,cli,fastapi,test]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def quick(session: nox.Session) -> None:
    """The quick selection: everything not marked ``slow``, on two processes (under a minute).

    Each async test runs on one backend here (asyncio or Trio, by a hash of its id);
    ``nox -s tests`` runs everything, on both.
    """
    session.install("-e", ".[engine,cli,fastapi,test]")
    session.run("python", "-m", "pytest", "-q", "-m", "not slow", "-n", "2", *session.posargs)


@nox.session
def core(session: nox.Session) -> None:
    """Run the tests with only the core dependencies (engine tests skip themselves)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def chaos(session: nox.Session) -> None:
    """The long fault, load and crash suite (tests marked ``chaos``; docs/reliability.md)."""
    session.install("-e", ".[engine,cli,fastapi,test]")
    session.run("python", "-m", "pytest", "-q", "-s", "-m", "chaos", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[engine,cli,fastapi,typecheck]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site with --strict."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")
