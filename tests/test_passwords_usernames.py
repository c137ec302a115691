"""Unit tests, no database: PasswordHasher (bcrypt over a SHA-256 pre-hash) and
the username rules (NFKC, allowed characters, case-insensitive key)."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import unicodedata

import bcrypt
import pytest
from conftest import bcrypt_cost

from sessapp.accounts.passwords import MAX_PASSWORD_BYTES, PasswordHasher, PasswordTooLong
from sessapp.accounts.usernames import (
    MAX_USERNAME_LENGTH,
    InvalidUsername,
    confusable_skeleton,
    normalize_username,
    username_key,
    username_skeleton,
)

ROUNDS = 4  # bcrypt's lowest cost: these tests hash a lot


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(ROUNDS)


# -- PasswordHasher: hashing and checking ---------------------------------------------


def test_hash_is_bcrypt_at_the_configured_cost(hasher):
    hashed = hasher.hash("correct horse battery staple")
    assert hashed.startswith("$2b$04$")
    assert len(hashed) == 60
    assert bcrypt_cost(PasswordHasher(5).hash("x")) == 5


def test_hash_never_contains_the_password(hasher):
    assert "correct horse" not in hasher.hash("correct horse battery staple")


def test_hashes_are_salted(hasher):
    assert hasher.hash("same password") != hasher.hash("same password")


def test_the_right_password_verifies(hasher):
    hashed = hasher.hash("correct horse battery staple")
    assert hasher.verify("correct horse battery staple", hashed) is True


@pytest.mark.parametrize("typed", [
    "correct horse battery staple ",
    " correct horse battery staple",
    "Correct horse battery staple",
    "CORRECT HORSE BATTERY STAPLE",
    "correct horse battery stapl",
    "correct horse battery staple\x00",
    "",
], ids=repr)
def test_a_password_is_checked_exactly_as_typed(hasher, typed):
    hashed = hasher.hash("correct horse battery staple")
    assert hasher.verify(typed, hashed) is False


def test_hashes_are_stable_bcrypt_of_the_base64_sha256(hasher):
    """Stored hashes must stay verifiable across releases: pin the scheme."""
    password = "correct horse battery staple"
    prehashed = base64.b64encode(hashlib.sha256(password.encode()).digest())
    assert bcrypt.checkpw(prehashed, hasher.hash(password).encode())
    foreign = bcrypt.hashpw(prehashed, bcrypt.gensalt(rounds=ROUNDS)).decode()
    assert hasher.verify(password, foreign)


def test_a_plain_bcrypt_hash_of_the_raw_password_is_not_accepted(hasher):
    """Without the pre-hash step, bcrypt would see only 72 bytes."""
    raw = bcrypt.hashpw(b"correct horse battery staple", bcrypt.gensalt(rounds=ROUNDS)).decode()
    assert hasher.verify("correct horse battery staple", raw) is False


# -- long, unusual and over-long passwords ---------------------------------------------


@pytest.mark.parametrize("password", [
    "\N{GRINNING FACE}" * 64,
    "x" * 1000,
    "a" * MAX_PASSWORD_BYTES,
    "é" * (MAX_PASSWORD_BYTES // 2),
    "with\x00nul",
    "\ud800 lone surrogate",
    "ß∂ƒ©˙∆˚¬ unicode",
], ids=["64-emoji", "1000-ascii", "1024-bytes", "1024-bytes-of-2-byte-chars", "nul",
        "lone-surrogate", "unicode"])
def test_any_password_up_to_1024_bytes_hashes_and_verifies(hasher, password):
    hashed = hasher.hash(password)
    assert hasher.verify(password, hashed) is True
    assert hasher.verify(password + "x", hashed) is False


@pytest.mark.parametrize("length", [73, 100, 1000])
def test_bytes_past_the_72nd_still_count(hasher, length):
    password = "p" * (length - 1) + "a"
    hashed = hasher.hash(password)
    assert hasher.verify("p" * (length - 1) + "b", hashed) is False
    assert hasher.verify(password[:72], hashed) is False


def test_characters_after_a_nul_still_count(hasher):
    hashed = hasher.hash("before\x00after-one")
    assert hasher.verify("before\x00after-two", hashed) is False
    assert hasher.verify("before", hashed) is False


def test_64_emoji_differing_only_in_the_last_one_do_not_match(hasher):
    password = "\N{GRINNING FACE}" * 63 + "\N{SMILING FACE WITH HALO}"
    hashed = hasher.hash(password)
    assert hasher.verify("\N{GRINNING FACE}" * 64, hashed) is False


def test_hashing_a_password_over_1024_bytes_raises_password_too_long(hasher):
    with pytest.raises(PasswordTooLong):
        hasher.hash("a" * (MAX_PASSWORD_BYTES + 1))
    with pytest.raises(PasswordTooLong):
        hasher.hash("\N{GRINNING FACE}" * 257)  # 257 characters, 1,028 bytes


def test_verifying_a_password_over_1024_bytes_is_false_not_an_error(hasher):
    hashed = hasher.hash("a" * MAX_PASSWORD_BYTES)
    assert hasher.verify("a" * (MAX_PASSWORD_BYTES + 1), hashed) is False
    assert hasher.verify("a" * 100_000, hashed) is False


# -- one bcrypt computation per verify, at the configured cost ------------------------


@pytest.fixture
def stored(hasher) -> str:
    return hasher.hash("correct horse battery staple")


@pytest.mark.parametrize("case", ["right", "wrong", "unknown-user", "too-long", "malformed-hash",
                                  "empty-hash"])
def test_every_verify_runs_exactly_one_bcrypt_check_at_the_configured_cost(
        hasher, stored, bcrypt_calls, case):
    password, target = "correct horse battery staple", stored
    if case == "wrong":
        password = "wrong"
    elif case == "unknown-user":
        target = None
    elif case == "too-long":
        password = "a" * (MAX_PASSWORD_BYTES + 1)
    elif case == "malformed-hash":
        target = "$2b$04$not-a-real-hash"
    elif case == "empty-hash":
        target = ""
    assert hasher.verify(password, target) is (case == "right")
    assert len(bcrypt_calls.checked_against) == 1, case
    assert bcrypt_calls.hashed == 0
    assert bcrypt_cost(bcrypt_calls.checked_against[0].decode()) == ROUNDS


def test_unknown_user_never_verifies_even_with_the_dummy_password(hasher):
    assert hasher.verify("sessapp-dummy-password", None) is False
    assert hasher.verify("", None) is False


def test_the_dummy_hash_is_made_at_the_configured_cost(bcrypt_calls):
    higher = PasswordHasher(ROUNDS + 1)
    assert bcrypt_calls.hashed == 1  # built once, at start-up
    bcrypt_calls.checked_against.clear()
    higher.verify("anything", None)
    assert bcrypt_cost(bcrypt_calls.checked_against[0].decode()) == ROUNDS + 1


@pytest.mark.parametrize("garbage", ["not-a-bcrypt-hash", "$2b$04$short", "$2b$xx$" + "a" * 53,
                                     "\u00e9" * 60, "$argon2id$v=19$m=65536,t=3,p=4$abc$def"])
def test_a_malformed_stored_hash_is_a_mismatch_and_logged(hasher, caplog, garbage):
    with caplog.at_level(logging.ERROR, logger="sessapp.accounts.passwords"):
        assert hasher.verify("correct horse battery staple", garbage) is False
    assert any("malformed" in record.getMessage() for record in caplog.records)
    assert "correct horse" not in caplog.text


# -- needs_rehash ------------------------------------------------------------------------


def test_a_hash_with_fewer_rounds_needs_rehash():
    weaker = PasswordHasher(4).hash("pw")
    assert PasswordHasher(5).needs_rehash(weaker) is True


def test_a_hash_at_the_configured_rounds_does_not_need_rehash(hasher):
    assert hasher.needs_rehash(hasher.hash("pw")) is False


def test_a_hash_with_more_rounds_is_never_downgraded():
    stronger = PasswordHasher(5).hash("pw")
    assert PasswordHasher(4).needs_rehash(stronger) is False


@pytest.mark.parametrize("garbage", ["", "plain", "$2b$", "$2b$xx$abc"])
def test_an_unreadable_hash_needs_rehash(hasher, garbage):
    assert hasher.needs_rehash(garbage) is True


# -- usernames: normalize_username ------------------------------------------------------


@pytest.mark.parametrize("name", [
    "alice",
    "Alice",
    "a",
    "a" * MAX_USERNAME_LENGTH,
    "alice.smith+tag@example-mail_1",
    "Ελένη",
    "山田太郎",
    "José",
    "Łukasz",
    "Дмитрий",
    "أحمد",
    "١٢٣",  # Arabic-Indic digits
    "user_٣",
    "@.+-_",
], ids=repr)
def test_valid_usernames_are_kept_as_typed(name):
    assert normalize_username(name) == name


@pytest.mark.parametrize("raw, shown", [
    ("\uff21lice", "Alice"),  # fullwidth A
    ("\uff41\uff4c\uff49\uff43\uff45", "alice"),  # fullwidth alice
    ("\ufb01nn", "finn"),  # fi ligature
    ("Jose\u0301", "José"),  # combining accent composes
    ("\u2460", "1"),  # circled one
    ("\u2167", "VIII"),  # roman numeral eight
], ids=repr)
def test_usernames_are_shown_in_nfkc_form(raw, shown):
    assert normalize_username(raw) == shown


@pytest.mark.parametrize("name", [
    "",
    "bob smith",
    " alice",
    "alice ",
    "alice\t",
    "alice\n",
    "alice\r",
    "alice\x00",
    "alice\x7f",
    "alice\u200b",  # zero-width space
    "alice\u200d",  # zero-width joiner
    "alice\u202e",  # right-to-left override
    "alice\u00a0",  # no-break space
    "alice/bob",
    "alice\\bob",
    "alice:bob",
    "alice;bob",
    "alice,bob",
    "alice'",
    'alice"',
    "alice`",
    "<script>alert(1)</script>",
    "alice&bob",
    "alice#1",
    "alice%20",
    "alice*",
    "alice=1",
    "alice?",
    "alice\N{GRINNING FACE}",
], ids=repr)
def test_invalid_usernames_are_refused(name):
    with pytest.raises(InvalidUsername):
        normalize_username(name)


def test_none_is_refused():
    with pytest.raises(InvalidUsername):
        normalize_username(None)  # type: ignore[arg-type]


def test_a_username_over_150_characters_is_refused():
    with pytest.raises(InvalidUsername, match="150"):
        normalize_username("a" * (MAX_USERNAME_LENGTH + 1))


def test_the_length_limit_applies_after_nfkc():
    """U+FDFA expands to 18 letters under NFKC: the stored form is what counts."""
    expanded = unicodedata.normalize("NFKC", "\ufdfa")
    assert len(expanded) > 1
    count = MAX_USERNAME_LENGTH // len(expanded) + 1
    with pytest.raises(InvalidUsername):
        normalize_username("\ufdfa" * count)


def test_refusal_messages_name_the_rule():
    with pytest.raises(InvalidUsername, match=re.escape("letters, digits and @ . + - _")):
        normalize_username("bob smith")
    with pytest.raises(InvalidUsername, match="Enter a username"):
        normalize_username("")


# -- usernames: username_key --------------------------------------------------------------


@pytest.mark.parametrize("variant", [
    "alice", "ALICE", "Alice", "aLiCe", "\uff21lice", "\uff21\uff2c\uff29\uff23\uff25",
], ids=repr)
def test_case_and_width_variants_share_one_key(variant):
    assert username_key(variant) == username_key("alice")


@pytest.mark.parametrize("a, b", [
    ("straße", "STRASSE"),  # full case folding, not just lower()
    ("José", "JOSE\u0301"),  # composed and decomposed
    ("ΣΊΣΥΦΟΣ", "σίσυφος"),  # final sigma
    ("\ufb01nn", "FINN"),
    ("\u212a", "k"),  # KELVIN SIGN
], ids=repr)
def test_keys_match_under_casefold_and_nfkc(a, b):
    assert username_key(a) == username_key(b)


@pytest.mark.parametrize("a, b", [
    ("alice", "alice1"),
    ("alice", "alíce"),
    ("alice", "\u0430lice"),  # CYRILLIC SMALL LETTER A: another letter, not folded
], ids=repr)
def test_different_names_have_different_keys(a, b):
    assert username_key(a) != username_key(b)


@pytest.mark.parametrize("name", ["alice\x00", "\x00", "al\x00ice"], ids=repr)
def test_a_nul_never_reaches_the_key_and_matches_nobody(name):
    """PostgreSQL refuses NUL in text parameters; the key is looked up in SQL."""
    key = username_key(name)
    assert "\x00" not in key
    assert key != username_key(name.replace("\x00", ""))
    with pytest.raises(InvalidUsername):
        normalize_username(key)


def test_username_key_never_raises():
    assert username_key("") == ""
    assert username_key(None) == ""  # type: ignore[arg-type]
    assert username_key("not a valid name!") == "not a valid name!"


def test_username_key_is_idempotent_across_the_letters_of_unicode():
    """key(key(x)) == key(x): otherwise two names could be one user by one
    reading and two by another."""
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if not unicodedata.category(char).startswith(("L", "M", "N")):
            continue
        key = username_key(char)
        assert username_key(key) == key, f"U+{code:04X}"


def test_the_key_of_a_valid_name_is_a_valid_name():
    for name in ["Alice", "STRASSE", "straße", "Ελένη", "\uff21lice", "ǅemal"]:
        normalize_username(username_key(name))


def test_the_key_of_a_150_character_name_fits_the_column():
    """users.username_key holds 600 characters: no allowed character's key may be
    more than four times as long as the character's shown form."""
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        try:
            shown = normalize_username(chr(code))
        except InvalidUsername:
            continue
        assert len(username_key(shown)) * MAX_USERNAME_LENGTH <= 600 * len(shown), (
            f"U+{code:04X}")
    assert len(username_key("ß" * MAX_USERNAME_LENGTH)) == 2 * MAX_USERNAME_LENGTH


# -- usernames: confusable skeleton (UTS #39) --------------------------------------------

LOOK_ALIKES_OF_ADMIN = ["adm\u0131n", "\u0430dmin", "ADM\u0130N", "admi\u0144", "Admin",
                        "\uff41dmin", "adrnin"]


@pytest.mark.parametrize("name", LOOK_ALIKES_OF_ADMIN,
                         ids=["dotless-i", "cyrillic-a", "capital-i-dot", "n-acute", "title",
                              "fullwidth-a", "r-n"])
def test_look_alikes_share_the_skeleton(name):
    assert username_skeleton(name) == username_skeleton("admin")


@pytest.mark.parametrize(("a", "b"), [("paypal", "p\u0430yp\u0430l"), ("alice", "\u0251lice"),
                                      ("jose", "Jos\u00e9"), ("bob", "b\u043eb")])
def test_more_look_alikes_share_the_skeleton(a, b):
    assert confusable_skeleton(a) == confusable_skeleton(b)


@pytest.mark.parametrize(("a", "b"), [("admin", "admins"), ("alice", "alicia"), ("bob", "rob"),
                                      ("\u5c71\u7530", "\u5c71\u6751"),
                                      ("\u0915\u093f", "\u0915\u0940")])
def test_different_names_have_different_skeletons(a, b):
    assert username_skeleton(a) != username_skeleton(b)


def test_the_skeleton_is_a_fixed_point_across_the_letters_of_unicode():
    """Each character's skeleton is its own skeleton: otherwise two names that
    look alike could land in different classes depending on which is stored."""
    for code in range(0x20000):
        char = chr(code)
        if unicodedata.category(char)[0] not in "LMN":
            continue
        skeleton = confusable_skeleton(char)
        assert confusable_skeleton(skeleton) == skeleton, f"U+{code:04X}"


def test_the_stored_skeleton_fits_its_column_whatever_the_name():
    assert len(username_skeleton("\uac00" * MAX_USERNAME_LENGTH)) == 64
    assert re.fullmatch("[0-9a-f]{64}", username_skeleton("admin"))
