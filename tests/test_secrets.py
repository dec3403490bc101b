"""A password is never printed, wherever the URL carries it (SPEC §14):
`user:pw@` or `?password=`, in db info, db check, init, connection errors
and the db copy refusal."""

from __future__ import annotations

import pytest
from conftest import Cli, empty_postgres_schema

from coachcli.db.engine import shown_url, without_secrets
from coachcli.errors import ExitCode

SECRET = "TOPSECRET"


def with_password(target: str, where: str) -> str:
    """The URL with a password that the server (trust authentication) ignores."""
    if where == "query":
        return target + ("&" if "?" in target else "?") + f"password={SECRET}"
    scheme, rest = target.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{SECRET}@{host}"


def printed(result) -> str:
    return result.stdout + result.stderr


@pytest.mark.parametrize("where", ["query", "userinfo"])
def test_db_info_check_and_init_show_the_password_as_stars(postgres_database, where):
    with empty_postgres_schema(postgres_database) as target:
        cli = Cli(with_password(target, where))
        for command in (["init"], ["db", "info"], ["db", "info", "-o", "json"], ["db", "check", "-o", "json"]):
            result = cli(*command)
            assert result.exit_code == 0, result.stderr
            assert SECRET not in printed(result), command
        assert "***" in cli.json("db", "info")["location"]


@pytest.mark.parametrize("where", ["query", "userinfo"])
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://root@127.0.0.1:1/postgres",
        "postgresql://root@localhost/no_such_coach_database",
        "postgresql://no_such_role@localhost/postgres",
        "postgresql+psycopg://root@localhost/postgres?sslmode=bogus",
    ],
)
def test_a_connection_error_never_shows_the_password(postgres_database, url, where):
    result = Cli(with_password(url, where))("plan", "list", user="dana")
    assert result.exit_code == ExitCode.DATABASE, printed(result)
    assert len(result.stderr.splitlines()) == 1 and SECRET not in printed(result)


@pytest.mark.parametrize("where", ["query", "userinfo"])
def test_the_db_copy_refusal_never_shows_the_password(cli, postgres_database, where):
    with empty_postgres_schema(postgres_database) as target:
        assert Cli(target)("init").exit_code == 0
        result = cli("db", "copy", "--to", with_password(target, where))
    assert result.exit_code == ExitCode.REFUSED and "not empty" in result.stderr
    assert SECRET not in printed(result)


def test_one_function_shows_a_url_to_people():
    assert shown_url("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
    assert shown_url("postgresql+psycopg://u@h/db?password=pw") == "postgresql+psycopg://u@h/db?password=***"
    assert (
        shown_url("postgresql+psycopg://u@h/db?sslmode=require&PASSWORD=pw&sslpassword=k")
        == "postgresql+psycopg://u@h/db?sslmode=require&PASSWORD=***&sslpassword=***"
    )
    assert "pw" not in shown_url("postgresql://u:pw@h:notaport/db")
    assert without_secrets("auth failed for pw and k", "postgresql://u:pw@h/db?sslpassword=k") == (
        "auth failed for *** and ***"
    )
