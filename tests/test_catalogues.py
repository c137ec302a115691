"""The catalogues are complete and current: every message the sources mark is
in each language's .po, translated, with its placeholders; every committed .mo
is what its .po compiles to; and German pages show no English text from the
catalogue. `make translations` then writing the missing German fixes each failure."""

from __future__ import annotations

import configparser
import fnmatch
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from conftest import new_browser

from sessapp.i18n import DEFAULT_LANGUAGE, LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "sessapp" / "locale"
TRANSLATED = sorted(code for code in LANGUAGES if code != DEFAULT_LANGUAGE)
PLACEHOLDER = re.compile(r"\$\{\w+\}|%\(\w+\)s")


def _catalogue(code: str):
    with open(LOCALE / code / "LC_MESSAGES" / "sessapp.po", "rb") as po:
        return read_po(po, locale=code)


def _key(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _marked_in_sources() -> dict[str, str]:
    """Every message the sources mark, extracted as `make translations` does,
    with the file it comes from."""
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map):
        found.setdefault(message if isinstance(message, str) else message[0], filename)
    return found


def test_every_supported_language_but_english_has_a_catalogue_and_no_other_does():
    present = sorted(path.name for path in LOCALE.iterdir() if path.is_dir())
    assert present == TRANSLATED


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_marked_message_is_in_the_catalogue(code):
    """A ``_("...")`` or ``{% trans %}`` added without running `make translations`."""
    known = {_key(message) for message in _catalogue(code) if message.id}
    missing = sorted(f"{where}: {text!r}" for text, where in _marked_in_sources().items()
                     if text not in known)
    assert missing == [], "run `make translations`, then translate the new messages"


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_message_has_a_translation_that_is_not_fuzzy(code):
    untranslated = []
    for message in _catalogue(code):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            untranslated.append(_key(message))
    assert untranslated == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_translations_keep_every_placeholder(code):
    wrong = []
    for message in _catalogue(code):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        wrong += [(_key(message), text) for text in strings
                  if set(PLACEHOLDER.findall(text)) != wanted]
    assert wrong == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_committed_mo_is_compiled_from_the_po(code):
    """The app reads the .mo; a .po edited without `make translations` is stale."""
    def texts(messages):
        return {tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id:
                tuple(message.string) if isinstance(message.string, (list, tuple))
                else message.string
                for message in messages
                if message.id and not message.fuzzy and all(message.string)}

    with open(LOCALE / code / "LC_MESSAGES" / "sessapp.mo", "rb") as mo:
        compiled = texts(read_mo(mo))
    source = texts(_catalogue(code))
    assert compiled == source, "run `make translations`"


# -- no English left on German pages ----------------------------------------------------

def _english_words() -> set[str]:
    """The catalogue's English texts whose German differs, placeholders cut out:
    any of them whole in a German page is a message left untranslated."""
    words = set()
    for message in _catalogue("de"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue
            for piece in PLACEHOLDER.split(re.sub(r"<[^>]+>", "", english)):
                if len(piece.strip(" .,;:()")) >= 4:
                    words.add(piece.strip())
    return words


def _text_nodes(response) -> list[str]:
    html = response.html
    for hidden in html.find_all(["script", "style"]):
        hidden.decompose()
    nodes = [text.strip() for text in html.stripped_strings]
    nodes += [element[attribute] for attribute in ("aria-label", "title", "placeholder")
              for element in html.find_all(attrs={attribute: True})]
    return nodes


def _assert_no_english(response) -> None:
    words = _english_words()
    left = sorted({node for node in _text_nodes(response)
                   for word in words if word in node})
    assert left == [], f"English on a German page: {left}"


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/logout", "/nowhere",
                                  "/password/forgot", "/password/reset/no-such-link"])
def test_anonymous_german_pages_show_no_english_from_the_catalogue(harness, path):
    browser = new_browser(harness)
    browser.set_cookie("language", "de")
    _assert_no_english(browser.get(path, status="*"))


@pytest.mark.parametrize("path", ["/", "/profile", "/sessions", "/password", "/admin", "/mfa",
                                  "/mfa/totp", "/sudo", "/email"])
def test_signed_in_german_pages_show_no_english_from_the_catalogue(harness, path):
    harness.make_user("root", admin=True)
    harness.make_user("bob")
    browser = new_browser(harness)
    browser.set_cookie("language", "de")
    new_browser(harness, "192.0.2.77").login("bob", "wrong password here", status=422)
    browser.login("root")
    _assert_no_english(browser.get(path))


def test_the_package_data_ships_every_catalogue_file():
    """A wheel (``pip install .``) carries the catalogues the app reads: every
    file under sessapp/locale matches a pattern of setup.cfg's package data."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = [pattern.strip() for pattern in
                config["options.package_data"]["sessapp.locale"].split(",")]
    files = [path.relative_to(LOCALE).as_posix() for path in LOCALE.rglob("*")
             if path.is_file() and "__pycache__" not in path.parts]
    assert any(name.endswith(".mo") for name in files)
    assert [name for name in files
            if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)] == []
