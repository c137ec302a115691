"""A small software authenticator for tests: it makes real WebAuthn
attestations ("none" format) and assertions, signing with ES256 keys of its
own (``cryptography``), as a platform authenticator would. Every field can be
bent (origin, RP id, counter, flags) to play a broken or hostile one.

The server side under test is py_webauthn, used for real: nothing here imitates
it, so a test passing means the bytes a browser would send are accepted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40
AAGUID = bytes(16)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    counter: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})


@dataclass
class SoftAuthenticator:
    """``origin``: where the "browser" says the page was. ``counts``: whether
    the signature counter moves (many passkeys keep it at 0)."""

    origin: str
    counts: bool = True
    user_verifying: bool = True
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    def _flags(self, *, attested: bool = False, uv: bool | None = None) -> int:
        flags = FLAG_UP
        if self.user_verifying if uv is None else uv:
            flags |= FLAG_UV
        return flags | (FLAG_AT if attested else 0)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge,
                           "origin": origin or self.origin, "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], *, origin: str | None = None,
               rp_id: str | None = None) -> dict[str, Any]:
        """A ``RegistrationResponseJSON`` for ``PublicKeyCredentialCreationOptionsJSON``."""
        rp = rp_id or options["rp"]["id"]
        excluded = {unb64url(item["id"]) for item in options.get("excludeCredentials", [])}
        if excluded & set(self.credentials):
            raise RuntimeError("InvalidStateError: this authenticator is excluded")
        credential = Credential(secrets.token_bytes(32), ec.generate_private_key(ec.SECP256R1()),
                                rp, unb64url(options["user"]["id"]))
        self.credentials[credential.credential_id] = credential
        auth_data = (hashlib.sha256(rp.encode()).digest()
                     + bytes([self._flags(attested=True)]) + struct.pack(">I", 0)
                     + AAGUID + struct.pack(">H", len(credential.credential_id))
                     + credential.credential_id + credential.cose_public_key())
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data),
                         "attestationObject": b64url(attestation),
                         "transports": ["internal"]},
        }

    def get(self, options: dict[str, Any], *, credential_id: bytes | None = None,
            origin: str | None = None, rp_id: str | None = None, counter: int | None = None,
            uv: bool | None = None, user_handle: bool = True) -> dict[str, Any]:
        """An ``AuthenticationResponseJSON`` for ``...RequestOptionsJSON``."""
        allowed = [unb64url(item["id"]) for item in options.get("allowCredentials", [])]
        if credential_id is None:
            usable = [c for c in self.credentials if not allowed or c in allowed]
            credential_id = usable[0]
        credential = self.credentials[credential_id]
        if counter is None:
            credential.counter += 1 if self.counts else 0
            counter = credential.counter
        rp = rp_id or options.get("rpId") or credential.rp_id
        auth_data = (hashlib.sha256(rp.encode()).digest() + bytes([self._flags(uv=uv)])
                     + struct.pack(">I", counter))
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                        ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data),
                         "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature),
                         "userHandle": b64url(credential.user_handle) if user_handle else None},
        }
