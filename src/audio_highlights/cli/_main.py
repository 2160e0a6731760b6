"""The ``audio-highlights`` group: the highlights of inputs by default, and its subcommands.

``audio-highlights FILE...`` is the main job, so the group runs its
``transcribe`` command whenever the first argument is not a subcommand's name
(``audio-highlights transcribe serve`` reads a file named ``serve``). Each
command is imported when it is run or listed, so ``serve`` needs no more than
the engine extra and ``--help`` starts no engine.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["DEFAULT_COMMAND", "cli"]

#: The command run when the first argument names no other.
DEFAULT_COMMAND = "transcribe"

# name -> (module, attribute) of each command, imported on first use
_COMMANDS = {
    "transcribe": ("._command", "command"),
    "serve": ("._serve", "serve"),
    "cache": ("._cache", "cache"),
}


class _Main(click.Group):
    """A group whose first argument is a file unless it names a command."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = _COMMANDS.get(cmd_name)
        if where is None:
            return None
        command: click.Command = getattr(importlib.import_module(where[0], __package__), where[1])
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in _COMMANDS:
            # --help and --version too: the default command's help is the main one.
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


@click.group(
    name="audio-highlights",
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def cli(**_: Any) -> None:
    """The key phrases of audio and video, and the offline engine that finds them."""
