"""Copy the keys of one store into another: a single-node install moving to PostgreSQL.

:func:`copy_keys` copies API keys (revoked ones stay revoked), signing keys and console
operators from a source (``keys.sqlite3``) into a target (PostgreSQL). It copies only what
the target lacks, so running it again — after an interruption, or once more before the
switch — copies the rest and changes nothing else: a key revoked in the source since is
revoked in the target too; an operator the target already has keeps the target's password.
``pchat keys import --from DIR`` runs it; ``pchat migrate`` can call it as it is.

Signing keys keep their ``kid``, secret and creation time, so tokens signed before the move
keep verifying. The newest key signs: if the cluster's nodes started on the empty target
before the copy, the key they created (newer) signs and the copied ones only verify.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import KeyStore, OperatorStore

__all__ = ["KeysCopied", "copy_keys"]


@dataclass(frozen=True, slots=True)
class KeysCopied:
    """What :func:`copy_keys` wrote to the target."""

    api_keys: int = 0
    #: API keys the target had, revoked in the source since: revoked in the target too.
    revoked: int = 0
    signing_keys: int = 0
    operators: int = 0


async def copy_keys(
    source: KeyStore,
    source_operators: OperatorStore,
    target: KeyStore,
    target_operators: OperatorStore,
) -> KeysCopied:
    """Copy into ``target`` what it lacks of ``source`` (see the module docstring)."""
    api_keys = revoked = 0
    for record in await source.list_api_keys():
        found = await target.get_api_key(record.key)
        if found is None:
            try:
                await target.add_api_key(record)
                api_keys += 1
            except ValueError:  # added meanwhile by another copy
                pass
        elif record.revoked_at is not None and found.revoked_at is None:
            revoked += await target.revoke_api_key(record.key, record.revoked_at)
    signing = 0
    known = {key.kid for key in await target.signing_keys()}
    for key in await source.signing_keys():
        if key.kid not in known:
            try:
                await target.add_signing_key(key)
                signing += 1
            except ValueError:
                pass
    operators = 0
    for operator in await source_operators.list_operators():
        if await target_operators.get_operator(operator.name) is None:
            await target_operators.set_operator(
                operator.name, operator.password_hash, operator.updated_at
            )
            operators += 1
    return KeysCopied(api_keys, revoked, signing, operators)
