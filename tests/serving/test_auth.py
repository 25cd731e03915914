"""Bearer-token checks of the scoring API."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from portsift.serving import auth
from portsift.serving.auth import (
    FEEDBACK,
    METRICS,
    SCORE,
    Credential,
    TokenConfigError,
    TokenVerifier,
    bearer_token,
    hash_token,
    legacy_name,
)

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


# ---------------------------------------------------------------- names and scopes


def test_named_credentials_carry_their_scopes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text(
        f"console score+feedback {hash_token(BRAVO)}  # the officers' console\n"
        f"prometheus metrics {hash_token(CHARLIE)}\n",
        encoding="utf-8",
    )
    verifier = TokenVerifier.from_env(
        {"PORTSIFT_API_TOKENS": f" gateway score {ALPHA} ", "PORTSIFT_API_TOKEN_FILE": str(path)}
    )
    assert verifier.identify(bearer(ALPHA)) == Credential("gateway", frozenset({SCORE}))
    assert verifier.identify(bearer(BRAVO)) == Credential("console", frozenset({SCORE, FEEDBACK}))
    assert verifier.identify(bearer(CHARLIE)) == Credential("prometheus", frozenset({METRICS}))
    assert verifier.identify(bearer("wrong-token-0123456789")) is None
    assert not verifier.identify(bearer(ALPHA)).allows(FEEDBACK)  # type: ignore[union-attr]
    assert {c.name for c in verifier.credentials} == {"gateway", "console", "prometheus"}


def test_tokens_without_a_name_may_only_score(tmp_path: Path) -> None:
    digest = hashlib.sha256(ALPHA.encode()).digest()
    old_style = [
        TokenVerifier.from_env({"PORTSIFT_API_TOKENS": ALPHA}),
        TokenVerifier.from_env({"PORTSIFT_API_TOKEN_FILE": str(token_file(tmp_path, ALPHA))}),
    ]
    for verifier in old_style:
        credential = verifier.identify(bearer(ALPHA))
        assert credential == Credential(legacy_name(digest), frozenset({SCORE}))
        assert credential.name == "token-" + digest.hex()[:8]
        assert not credential.allows(FEEDBACK) and not credential.allows(METRICS)


def test_clashing_credentials_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError, match="name 'console' is given twice"):
        TokenVerifier.from_items([f"console score {ALPHA}", f"console feedback {BRAVO}"])
    with pytest.raises(TokenConfigError, match="configured as 'a' and as 'b'"):
        TokenVerifier.from_items([f"a score {ALPHA}", f"b score {ALPHA}"])
    # The same credential from the environment and the file is one credential.
    path = tmp_path / "tokens.txt"
    path.write_text(f"gateway score {hash_token(ALPHA)}\n", encoding="utf-8")
    both = TokenVerifier.from_env(
        {"PORTSIFT_API_TOKENS": f"gateway score {ALPHA}", "PORTSIFT_API_TOKEN_FILE": str(path)}
    )
    assert len(both) == 1
    for bad, message in [
        (f"console scores {hash_token(ALPHA)}", "unknown scope 'scores'"),
        (f"console {hash_token(ALPHA)}", "line 1: expected"),
        (f"con sole score {hash_token(ALPHA)}", "line 1: expected"),
    ]:
        with pytest.raises(TokenConfigError, match=message):
            TokenVerifier.from_digest_lines([bad])


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
        ("sixteen chars ok!", "unknown scope 'chars'"),
        ("a b c d-0123456789abcdef", "holds spaces"),
        ("bad/name score alpha-token-0123456789", "credential name 'bad/name'"),
        ("console score+ alpha-token-0123456789", "unknown scope ''"),
        ("console score short", "5 characters long"),
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
