"""What a model URI may not carry: it is written as it is into every rank's environment and the Pulumi state."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

SECRET_QUERY_KEYS = frozenset(
    {
        "sig",  # Azure SAS
        "signature",
        "x-amz-signature",  # S3 presigned
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",  # GCS signed
        "x-goog-credential",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "password",
    }
)
"""Query parameters that hold credentials (compared in lower case)."""

_WHERE_CREDENTIALS_GO = (
    "they would be written in plain text into every rank's environment and the Pulumi state; let the ranks read "
    "the weights with the weight store's read-only identity, or pass keys that the storage client reads from its "
    "environment (AWS_ACCESS_KEY_ID, AZURE_STORAGE_SAS_TOKEN ...) from a Kubernetes Secret (env_from_secrets)"
)


def unsafe_uri_reason(value: str) -> str | None:
    """Why ``value`` may not be used as a model URI as it is (credentials, control characters, a '..' segment),
    or None."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return "holds a control character; write the URI as one line of printable characters"
    parts = urlsplit(value)
    userinfo = parts.netloc.rpartition("@")[0]
    # az://container@account/... names a container, not a user: only a password, or any user of http(s), is a secret.
    if userinfo and (":" in userinfo or parts.scheme in ("http", "https")):
        return f"carries credentials (user:password@host): {_WHERE_CREDENTIALS_GO}"
    secrets = sorted({key for key, _ in parse_qsl(parts.query) if key.lower() in SECRET_QUERY_KEYS})
    if secrets:
        return f"carries credentials in its query ({', '.join(secrets)}): {_WHERE_CREDENTIALS_GO}"
    if ".." in parts.path.split("/"):
        return "has a '..' segment in its path; name the model's directory itself"
    return None
