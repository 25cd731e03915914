"""Bearer-token checks of the scoring API."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from portsift.serving import auth
from portsift.serving.auth import TokenConfigError, TokenVerifier, bearer_token, hash_token

ALPHA = "alpha-token-0123456789"
BRAVO = "bravo-token-ABCDEFGHIJ"
CHARLIE = "charlie-token-~._+/=xyz"


def bearer(token: str) -> str:
    return f"Bearer {token}"


def token_file(tmp_path: Path, *tokens: str, extra: str = "") -> Path:
    path = tmp_path / "tokens.txt"
    lines = ["# portsift API tokens", ""]
    lines += [f"{hash_token(token)}  # issued to system {n}" for n, token in enumerate(tokens)]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


# ------------------------------------------------------------------------- accepting


def test_plain_tokens_from_the_environment_are_accepted() -> None:
    verifier = TokenVerifier.from_env({"PORTSIFT_API_TOKENS": f" {ALPHA} ,{BRAVO}"})
    assert verifier.is_configured
    assert len(verifier) == 2
    assert verifier.verify(bearer(ALPHA))
    assert verifier.verify(bearer(BRAVO))
    assert verifier.verify(f"bearer {ALPHA}")  # the scheme is case-insensitive
    assert verifier.verify(f"  Bearer   {BRAVO}  ")


def test_hashed_tokens_from_a_file_are_accepted(tmp_path: Path) -> None:
    path = token_file(tmp_path, ALPHA, BRAVO)
    verifier = TokenVerifier.from_env({"PORTSIFT_API_TOKEN_FILE": str(path)})
    assert len(verifier) == 2
    assert verifier.verify(bearer(ALPHA))
    assert verifier.verify(bearer(BRAVO))
    assert not verifier.verify(bearer(CHARLIE))
    assert ALPHA not in path.read_text()


def test_environment_and_file_combine(tmp_path: Path) -> None:
    path = token_file(tmp_path, BRAVO)
    verifier = TokenVerifier.from_env(
        {"PORTSIFT_API_TOKENS": ALPHA, "PORTSIFT_API_TOKEN_FILE": str(path)}
    )
    assert len(verifier) == 2
    assert verifier.verify(bearer(ALPHA))
    assert verifier.verify(bearer(BRAVO))


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTSIFT_API_TOKENS", CHARLIE)
    monkeypatch.delenv("PORTSIFT_API_TOKEN_FILE", raising=False)
    assert TokenVerifier.from_env().verify(bearer(CHARLIE))


def test_hash_token_is_the_sha256_line() -> None:
    line = hash_token(ALPHA)
    assert line == "sha256:" + hashlib.sha256(ALPHA.encode()).hexdigest()
    assert TokenVerifier.from_digest_lines([line.upper().replace("SHA256:", "sha256:")]).verify(
        bearer(ALPHA)
    )


def test_only_digests_are_kept() -> None:
    verifier = TokenVerifier.from_tokens([ALPHA, BRAVO])
    held = repr(verifier) + repr(vars(verifier))
    assert ALPHA not in held
    assert BRAVO not in held
    assert ALPHA.encode() not in b"".join(verifier._digests)


# ------------------------------------------------------------------------- rejecting


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        bearer("wrong-token-0123456789"),
        bearer(ALPHA[:-1]),
        bearer(ALPHA + "x"),
        ALPHA,  # no scheme
        f"Basic {ALPHA}",
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        f"Token {ALPHA}",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        f"Bearer{ALPHA}",
        f"Bearer {ALPHA} {BRAVO}",
        f"Bearer {ALPHA}\u00e9",
        f"Bearer {ALPHA}\x00",
        f"Bearer\t{ALPHA}",
    ],
)
def test_wrong_missing_and_malformed_headers_are_refused(header: str | None) -> None:
    verifier = TokenVerifier.from_tokens([ALPHA, BRAVO])
    assert not verifier.verify(header)


def test_an_unconfigured_verifier_accepts_nothing() -> None:
    verifier = TokenVerifier.from_env({})
    assert not verifier.is_configured
    assert len(verifier) == 0
    assert not verifier.verify(bearer(ALPHA))
    assert not verifier.verify(None)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "set but empty"),
        ("   ", "set but empty"),
        ("short", "5 characters long; at least 16"),
        (f"{ALPHA},tiny", "#2 is 4 characters long"),
        (f"{ALPHA},,{BRAVO}", "#2 is empty"),
        (f"{ALPHA},", "#2 is empty"),
        ("sixteen chars ok!", "spaces"),
        ("sixteen-chars-Ünicode", "non-ASCII"),
    ],
)
def test_bad_plain_tokens_are_refused_at_configuration(value: str, message: str) -> None:
    with pytest.raises(TokenConfigError, match=message) as caught:
        TokenVerifier.from_env({"PORTSIFT_API_TOKENS": value})
    for token in value.split(","):
        if token.strip():
            assert token.strip() not in str(caught.value), "a token leaked into the message"


def test_bad_token_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError, match="cannot read"):
        TokenVerifier.from_env({"PORTSIFT_API_TOKEN_FILE": str(tmp_path / "missing.txt")})
    with pytest.raises(TokenConfigError, match="set but empty"):
        TokenVerifier.from_env({"PORTSIFT_API_TOKEN_FILE": ""})

    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(TokenConfigError, match="no token digests"):
        TokenVerifier.from_file(empty)

    # A plain token pasted into the file is refused, and not repeated in the message.
    path = token_file(tmp_path, ALPHA, extra=f"{BRAVO}\n")
    with pytest.raises(TokenConfigError, match="line 4: expected 'sha256:'") as caught:
        TokenVerifier.from_file(path)
    assert BRAVO not in str(caught.value)

    for bad in ("sha256:abc", "sha256:" + "g" * 64, "md5:" + "0" * 32, "sha256:" + "0" * 65):
        with pytest.raises(TokenConfigError, match="line 1"):
            TokenVerifier.from_digest_lines([bad])


def test_hash_token_refuses_short_tokens() -> None:
    with pytest.raises(TokenConfigError, match="at least 16"):
        hash_token("too-short")
    with pytest.raises(TokenConfigError, match="empty"):
        hash_token("")


def test_bearer_token_parsing() -> None:
    assert bearer_token(bearer(ALPHA)) == ALPHA
    assert bearer_token("BEARER abc") == "abc"
    assert bearer_token("Bearer") is None
    assert bearer_token("Basic abc") is None
    assert bearer_token(None) is None


# ---------------------------------------------------------------------- constant time


def test_every_digest_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    verifier = TokenVerifier.from_tokens([ALPHA, BRAVO, CHARLIE, ALPHA])  # ALPHA kept once
    assert len(verifier) == 3

    for header, expected in [
        (bearer(ALPHA), True),  # matches the first digest: no early exit
        (bearer(BRAVO), True),
        (bearer(CHARLIE), True),  # matches the last
        (bearer("wrong-token-0123456789"), False),
    ]:
        calls.clear()
        assert verifier.verify(header) is expected
        assert len(calls) == 3
        # Fixed-length digests are compared, never the presented token itself.
        assert all(len(a) == len(b) == 32 for a, b in calls)
        assert {b for _, b in calls} == set(verifier._digests)
