"""The ``audio-highlights`` command.

``audio-highlights FILE|DIR|URL|GLOB ...`` prints the highlights of each input
(the ``transcribe`` command, the default); ``audio-highlights serve`` runs the
offline engine as an HTTP server; ``audio-highlights cache`` shows or clears
what the engine keeps on disk. Without an API key the inputs go to the
embedded engine, in-process. The command needs the ``cli`` extra
(``pip install "audio-highlights[cli]"``); ``serve`` and ``cache`` need only
the ``engine`` extra.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_NEEDS = (
    "audio-highlights: {what} needs the '{extra}' extra "
    '(missing module {name!r}): pip install "audio-highlights[{extra}]"\n'
)
# Modules of the cli extra; a missing one of any other module is the engine's.
_CLI_MODULES = frozenset({"click", "rich"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 all inputs done, 1 some failed, 2 usage error or a
        missing extra, 130 interrupted.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # click is the cli extra's (the engine's uvicorn brings it too): imported
        # only when the command runs, and each command only when it is used.
        import click

        from ._main import cli
    except ImportError as exc:
        sys.stderr.write(_NEEDS.format(what="the command line", extra="cli", name=exc.name))
        return 2
    try:
        code = cli.main(args, prog_name="audio-highlights", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        sys.stderr.write("audio-highlights: interrupted\n")
        return 130
    except ImportError as exc:
        top = (exc.name or "").split(".")[0]
        if top in ("", "audio_highlights"):
            raise  # not a missing extra: a bug of ours
        if top in _CLI_MODULES:
            what, extra = "the command line", "cli"
        else:
            what, extra = "the offline engine", "engine"
        sys.stderr.write(_NEEDS.format(what=what, extra=extra, name=exc.name))
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
