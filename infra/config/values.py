"""The stack config's own value types, for the keys no spec declares: the API key, a secret."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, SecretStr

from .problems import rule_error


def _check_api_key(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise rule_error("is empty; set it with `pulumi config set --secret shardstack:api_key`")
    return value


ApiKey = Annotated[SecretStr, AfterValidator(_check_api_key)]
