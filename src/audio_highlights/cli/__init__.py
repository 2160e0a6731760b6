"""The ``audio-highlights`` command.

``audio-highlights FILE|URL|GLOB ...`` prints the highlights of each input;
``audio-highlights serve ...`` runs the offline engine as an HTTP server;
``audio-highlights cache info|clear`` shows or clears its data dir.
Without an API key it uses the embedded engine, in-process. The command needs
the ``cli`` extra (``pip install "audio-highlights[cli]"``); ``serve`` needs
only the ``engine`` extra.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_NEEDS_CLI = (
    "audio-highlights: the command line needs the 'cli' extra "
    '(missing module {name!r}): pip install "audio-highlights[cli]"\n'
)
_NEEDS_ENGINE = (
    "audio-highlights serve: the offline engine needs the 'engine' extra "
    '(missing module {name!r}): pip install "audio-highlights[engine]"\n'
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 all inputs done, 1 some failed, 2 usage error, 130 interrupted.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        try:
            from ..engine import serve_main
        except ImportError as exc:
            sys.stderr.write(_NEEDS_ENGINE.format(name=exc.name))
            return 2
        return serve_main(args[1:])
    if args[:1] == ["cache"]:
        from ..engine._cache import cache_main

        return cache_main(args[1:])
    try:
        # click and rich are the cli extra: imported only when the command runs.
        import click

        from ._command import command
    except ImportError as exc:
        sys.stderr.write(_NEEDS_CLI.format(name=exc.name))
        return 2
    try:
        code = command.main(args, prog_name="audio-highlights", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        sys.stderr.write("audio-highlights: interrupted\n")
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
