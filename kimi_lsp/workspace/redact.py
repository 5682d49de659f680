"""Secrets by content: what is withheld from the model whatever file or command it comes from.

``policy`` hides files by name; this finds secrets inside text: private key blocks (PEM, OpenSSH, PGP),
well-known token shapes (cloud, forge and payment keys, JWTs), passwords inside URLs, and the values of the
environment's secret-looking variables (tests may need ``DATABASE_URL``; the model never needs its password).
Replacements keep the line structure, so line numbers the model sees stay true.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["KEY_REFUSAL", "MARK", "KeyBlockTracker", "Redactor", "is_secret_env_name", "key_lines", "mask_keys"]

MARK = "[secret withheld by kimi-lsp]"
KEY_MARK = "[private key withheld by kimi-lsp]"

# PEM, OpenSSH and PGP ("-----BEGIN ... PRIVATE KEY-----") and SSH2 ("---- BEGIN SSH2 ... PRIVATE KEY ----").
_BEGIN = re.compile(r"-{4,5} ?BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}")
_END = re.compile(r"-{4,5} ?END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}")
# A key block, or its start up to the end of the text when the text was cut inside it; PuTTY's private lines.
_BLOCK = re.compile(
    rf"{_BEGIN.pattern}.*?(?:{_END.pattern}|\Z)|Private-Lines: \d+\n.*?(?=Private-MAC|\Z)",
    re.DOTALL,
)
# Token shapes issued by well-known services; each is specific enough not to hit ordinary code.
_TOKENS = re.compile(
    r"""(?x)
    \b(?:AKIA|ASIA)[0-9A-Z]{16}\b                      # AWS access key id
    | \bgh[pousr]_[A-Za-z0-9]{36,}\b                   # GitHub tokens
    | \bgithub_pat_[A-Za-z0-9_]{22,}\b
    | \bgl(?:pat|rt|ptt|dt|cbt)-[A-Za-z0-9_-]{20,}     # GitLab
    | \b(?:xox[abposr]|xapp)-[A-Za-z0-9-]{10,}         # Slack
    | hooks\.slack\.com/services/[A-Za-z0-9/]{20,}
    | \bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}           # OpenAI, Anthropic, Moonshot style API keys
    | \b[sr]k_(?:live|test)_[A-Za-z0-9]{20,}\b         # Stripe
    | \bwhsec_[A-Za-z0-9]{20,}
    | \bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{30,}      # SendGrid
    | \bGOCSPX-[A-Za-z0-9_-]{20,}                      # Google OAuth client secret
    | \bdop_v1_[a-f0-9]{64}\b                          # DigitalOcean
    | \bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}\b            # Shopify
    | \bhvs\.[A-Za-z0-9_-]{20,}                        # HashiCorp Vault
    | \bdckr_pat_[A-Za-z0-9_-]{20,}                    # Docker Hub
    | LS0tLS1CRUdJTi[A-Za-z0-9+/=]{20,}                # a PEM block, base64-encoded (Kubernetes, kubeconfig)
    | \bAIza[0-9A-Za-z_-]{35}\b                        # Google API key
    | \bnpm_[A-Za-z0-9]{36}\b                          # npm
    | \bpypi-AgE[A-Za-z0-9_-]{50,}                     # PyPI
    | \bhf_[A-Za-z0-9]{30,}\b                          # Hugging Face
    | \beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}   # JWT
    """
)
# scheme://user:password@host: the password goes, the rest stays readable.
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)")
_AWS_SECRET = re.compile(r"(?i)((?:aws_secret_access_key|secretaccesskey)[\"']?\s*[=:]\s*[\"']?)([A-Za-z0-9/+=]{40})")
_ACCOUNT_KEY = re.compile(r"(?i)(AccountKey=)([A-Za-z0-9+/=]{40,})")
# A quoted literal assigned to a secret-looking name (Django's SECRET_KEY, a settings file's PASSWORD).
_ASSIGNED = re.compile(
    r"(?i)(\b\w*(?:SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|AUTH_TOKEN|ACCESS_TOKEN)\w*[\"']?\s*[=:]\s*[\"'])"
    r"([^\"'\s]{12,})"
)

_SECRET_NAME = re.compile(
    r"(?i)(?:^|_)(?:KEY|KEYS|TOKEN|TOKENS|SECRET|SECRETS|PASS|PASSWD|PASSWORD|PASSPHRASE|AUTH|CREDENTIALS?|"
    r"PAT|DSN|PRIVATE|SESSION|COOKIE|SIGNING|SALT|APIKEY|ACCESS_KEY_ID)(?:_|$)"
)
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD", "SSH_AUTH_SOCK", "GPG_AGENT_INFO", "XAUTHORITY", "KEYTIMEOUT"})
_MIN_VALUE = 8  # shorter values ("1", "true", "admin") are too common to replace without mangling output


def is_secret_env_name(name: str) -> bool:
    """True for environment variable names that usually hold credentials (``GH_PAT``, ``SENTRY_DSN``, ...)."""
    return name.upper() not in _NOT_SECRET_NAMES and _SECRET_NAME.search(name) is not None


class Redactor:
    """Replaces secrets in text meant for the model; built once per job from the tests' environment."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        unique = {value for value in values if len(value) >= _MIN_VALUE}
        # Longest first, so a value that contains another is replaced whole.
        ordered = sorted(unique, key=len, reverse=True)
        self._values = re.compile("|".join(re.escape(value) for value in ordered)) if ordered else None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Redactor:
        """Secret-looking variables' values, and the passwords inside any variable that holds a URL."""
        values: list[str] = []
        for name, value in env.items():
            if is_secret_env_name(name):
                values.append(value)
            values.extend(match.group(2) for match in _URL_PASSWORD.finditer(value))
        return cls(values)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if "PRIVATE KEY" in text or "Private-Lines:" in text:
            text = _BLOCK.sub(_block_mark, text)
        text = _TOKENS.sub(MARK, text)
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + MARK + m.group(3), text)
        for keyed in (_AWS_SECRET, _ACCOUNT_KEY, _ASSIGNED):
            text = keyed.sub(lambda m: m.group(1) + MARK, text)
        if self._values is not None:
            text = self._values.sub(MARK, text)
        return text


def _block_mark(match: re.Match[str]) -> str:
    # One mark per line of the block, so the lines after it keep their numbers.
    return "\n".join(KEY_MARK for _ in range(match.group(0).count("\n") + 1))


class KeyBlockTracker:
    """Follows a file line by line and says which lines lie inside a private key block.

    For readers that show a window of a file: a window that starts inside a key has no BEGIN line of its
    own for the text-level redaction to see.
    """

    def __init__(self) -> None:
        self.inside = False

    def feed(self, line: str) -> bool:
        """Take the next line; True when that line is part of a key."""
        if not self.inside:
            if _BEGIN.search(line):
                self.inside = not _END.search(line)
                return True
            if line.startswith("Private-Lines:"):  # PuTTY: the private lines follow, up to Private-MAC
                self.inside = True
            return False
        if _END.search(line) or line.startswith("Private-MAC"):
            self.inside = False
        return True


def key_lines(lines: list[str]) -> set[int]:
    """The 0-based indexes of ``lines`` that lie inside a private key block (its BEGIN and END included)."""
    if not any("PRIVATE KEY" in line or "Private-Lines:" in line for line in lines):
        return set()
    tracker = KeyBlockTracker()
    return {index for index, line in enumerate(lines) if tracker.feed(line)}


def mask_keys(text: str | None) -> str | None:
    """``text`` with every line inside a private key block replaced by a mark (line count kept), so that any
    excerpt cut from it later, wherever it starts, shows nothing of a key."""
    if text is None or ("PRIVATE KEY" not in text and "Private-Lines:" not in text):
        return text
    lines = text.split("\n")
    for index in key_lines(lines):
        lines[index] = KEY_MARK
    return "\n".join(lines)


KEY_REFUSAL = "that text lies inside a private key block; kimi-lsp neither shows nor edits keys"
