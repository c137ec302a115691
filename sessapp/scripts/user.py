"""sessapp-user INI COMMAND ...: manage accounts from the shell.

Passwords are read from standard input when it is not a terminal (one line),
otherwise prompted for twice; they never appear on the command line.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

from ..accounts import audit, email_addresses, lockout
from ..accounts import users as accounts
from ..accounts.errors import AccountError
from ..accounts.password_policy import PasswordPolicy
from ..accounts.passwords import PasswordHasher
from ..clock import SystemClock
from ..security.acl import ADMIN_ROLE
from .common import ScriptError, load_environment, run


def read_password(prompt: str = "Password: ") -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise ScriptError("no password on standard input")
        return line[:-1] if line.endswith("\n") else line
    first = getpass.getpass(prompt)
    second = getpass.getpass("Repeat it: ")
    if first != second:
        raise ScriptError("the two passwords differ")
    return first


def _user(dbsession, name: str):
    user = accounts.find_user(dbsession, name)
    if user is None:
        raise ScriptError(f"no such user: {name}")
    return user


def _body(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sessapp-user", description=__doc__)
    parser.add_argument("config_uri", help="the INI file, e.g. development.ini")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--admin", action="store_true", help="give the admin role")
    for name, text in (("set-password", "set a new password (ends every session)"),
                       ("disable", "disable the account and end its sessions and tokens"),
                       ("enable", "enable the account"),
                       ("revoke-sessions", "end every session and API token of the user"),
                       ("unlock", "lift the lock too many wrong passwords put on signing in")):
        commands.add_parser(name, help=text).add_argument("username")
    set_email = commands.add_parser("set-email", help="set the e-mail address (marked verified)")
    set_email.add_argument("username")
    set_email.add_argument("address")
    commands.add_parser("list", help="list users")
    args = parser.parse_args(argv)

    env = load_environment(args.config_uri)
    if sys.stderr.isatty():
        # A person at a terminal reads the one line this command prints; the
        # change is stored as an auth event all the same. The JSON log record
        # is for log shippers, which run without a terminal.
        logging.getLogger(audit.log.name).setLevel(logging.WARNING)
    hasher = PasswordHasher(env.settings.auth.bcrypt_rounds)
    policy = PasswordPolicy(env.settings.auth.password_min_length)
    now = SystemClock().now()
    try:
        with env.transaction() as dbsession:
            if args.command == "add":
                password = read_password()
                user = accounts.create_user(
                    dbsession, hasher, policy, args.username, password, now,
                    roles=[ADMIN_ROLE] if args.admin else [],
                )
                audit.record_from_shell(dbsession, "shell_user_added", now, user=user)
                print(f"created user {user.username} (id {user.id})")
            elif args.command == "set-password":
                user = _user(dbsession, args.username)
                accounts.set_password(user, hasher, policy, read_password(), now)
                ended = accounts.end_sessions(dbsession, user)
                audit.record_from_shell(dbsession, "shell_password_set", now, user=user)
                print(f"password changed for {user.username}; ended {ended} session(s)")
            elif args.command == "disable":
                user = _user(dbsession, args.username)
                accounts.disable(dbsession, user, now)
                audit.record_from_shell(dbsession, "shell_disabled", now, user=user)
                print(f"disabled {user.username}")
            elif args.command == "enable":
                user = _user(dbsession, args.username)
                accounts.enable(user)
                audit.record_from_shell(dbsession, "shell_enabled", now, user=user)
                print(f"enabled {user.username}")
            elif args.command == "revoke-sessions":
                user = _user(dbsession, args.username)
                ended, revoked = accounts.end_sessions_and_tokens(dbsession, user, now)
                audit.record_from_shell(dbsession, "shell_sessions_revoked", now, user=user)
                print(f"ended {ended} session(s) and revoked {revoked} API token(s)"
                      f" of {user.username}")
            elif args.command == "set-email":
                user = _user(dbsession, args.username)
                email_addresses.set_from_shell(dbsession, user, args.address, now)
                print(f"e-mail address of {user.username} set to {user.email} (verified)")
            elif args.command == "unlock":
                user = _user(dbsession, args.username)
                cleared = lockout.unlock(dbsession, user)
                audit.record_from_shell(dbsession, "shell_unlocked", now, user=user)
                print(f"unlocked {user.username}; forgot {cleared} failed sign-in(s)")
            else:
                for user in accounts.list_users(dbsession):
                    state = "disabled" if user.disabled else "active"
                    roles = ",".join(user.roles) or "-"
                    address = user.email or "-"
                    if user.email and user.email_verified_at is None:
                        address += " (unverified)"
                    print(f"{user.id}\t{user.username}\t{roles}\t{state}\t{address}")
    except AccountError as exc:
        raise ScriptError(str(exc)) from None
    return 0


def main(argv: list[str] | None = None) -> int:
    raise SystemExit(run(_body, argv))
