"""Content credentials (C2PA) for recordings: a signed manifest that says "AI-generated".

A finished video file gets a C2PA manifest embedded in place (``c2pa-python``): one
``c2pa.created`` action whose digital source type is IPTC's *trainedAlgorithmicMedia*,
naming the software (reenact and its version) and the generator model (file name and
content id), signed with an ES256/PS256/Ed25519 key and its certificate chain. The
manifest hashes the whole file, so any later change to the video shows up as invalid.

The signing identity is, in order:

1. ``$REENACT_C2PA_CERT`` (PEM certificate chain, signer first) and ``$REENACT_C2PA_KEY``
   (its PEM private key), when both are set: a real certificate; the algorithm follows
   the key type. ``$REENACT_C2PA_TSA_URL`` optionally names a timestamp authority.
2. Otherwise a local one under the cache folder (``$REENACT_CACHE`` or
   ``~/.cache/reenact``) in ``c2pa/``: a small self-signed CA and an end-entity
   certificate it issued (C2PA validators refuse a self-signed signing certificate), made
   on first use or by ``reenact setup``. It works offline;
   validators report its signature as valid but its signer as untrusted.

:func:`sign_recording` signs a file; :func:`read_credentials` reads one back as a short
summary (``reenact verify`` prints it), :func:`describe` turns that into lines of text.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from media.formats import RECORDING_MIME_TYPES
from models.errors import UserError
from models.files import write_atomically
from models.landmarker_asset import cache_dir

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CERT_ENV = "REENACT_C2PA_CERT"
KEY_ENV = "REENACT_C2PA_KEY"
TSA_ENV = "REENACT_C2PA_TSA_URL"
IDENTITY_DIR = "c2pa"
CHAIN_FILE = "signer-chain.pem"  # end-entity certificate, then the local CA
KEY_FILE = "signer-key.pem"  # mode 0600
CA_FILE = "local-ca.pem"
VALIDITY_DAYS = 10 * 365
VALID_STATES = ("Valid", "Trusted")


class CredentialsError(UserError):
    """Content credentials that cannot be made or read (bad input, bad certificate)."""


@dataclass(frozen=True)
class Provenance:
    """What a recording's manifest names: the generator model that made it."""

    model_name: str
    model_id: str  # models.generator_contract.model_id of the file


@dataclass(frozen=True)
class SigningIdentity:
    chain_pem: bytes
    key_pem: bytes
    algorithm: str  # c2pa's name: es256, es384, es512, ps256, ed25519
    source: str  # where it came from, for messages
    tsa_url: str | None = None


# ------------------------------------------------------------------ the signing identity


def identity_dir() -> Path:
    return cache_dir() / IDENTITY_DIR


def _name(common_name: str):
    from cryptography.x509 import Name, NameAttribute
    from cryptography.x509.oid import NameOID

    return Name([NameAttribute(NameOID.COMMON_NAME, common_name),
                 NameAttribute(NameOID.ORGANIZATION_NAME, "reenact (local, self-issued)")])


def _key_usage(sign: bool):
    from cryptography import x509

    return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not sign,
                         crl_sign=not sign, encipher_only=False, decipher_only=False)


def _make_local_identity() -> tuple[bytes, bytes, bytes]:
    """A fresh (chain PEM, key PEM, CA PEM): a P-256 CA and an end-entity signer it issued."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=VALIDITY_DAYS)
    ca_key, signer_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("reenact local content credentials CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_key_usage(sign=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    signer = (x509.CertificateBuilder().subject_name(_name("reenact local signer")).issuer_name(ca_name)
              .public_key(signer_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(start).not_valid_after(end)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(_key_usage(sign=True), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = signer_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return signer.public_bytes(pem) + ca.public_bytes(pem), key_pem, ca.public_bytes(pem)


def _write_private(path: Path, data: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def ensure_local_identity(folder: Path | None = None) -> Path:
    """Create the local signing identity in ``folder`` (default: the cache) unless it exists.

    The three files are written into a temporary folder that is then renamed into place,
    so a concurrent or interrupted run never leaves a key without its certificate.
    Returns the folder.
    """
    folder = Path(folder) if folder is not None else identity_dir()
    if (folder / CHAIN_FILE).is_file() and (folder / KEY_FILE).is_file():
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():  # a partial folder left by hand: refuse to guess which half is right
            raise CredentialsError(f"content credentials: {folder} exists but lacks {CHAIN_FILE} or "
                                   f"{KEY_FILE}; remove the folder to make a new local identity")
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            chain_pem, key_pem, ca_pem = _make_local_identity()
            _write_private(staging / KEY_FILE, key_pem, 0o600)
            _write_private(staging / CHAIN_FILE, chain_pem, 0o644)
            _write_private(staging / CA_FILE, ca_pem, 0o644)
            os.chmod(staging, 0o700)
            try:
                os.rename(staging, folder)
            except OSError:
                if not (folder / KEY_FILE).is_file():  # not a concurrent winner: a real failure
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as error:
        raise CredentialsError(f"content credentials: cannot create the local signing identity in "
                               f"{folder} ({error.strerror or error}); set {CERT_ENV} and {KEY_ENV} "
                               "to a certificate chain and key instead") from None
    return folder


def _algorithm_for(key_pem: bytes, key_path: str) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise CredentialsError(f"{KEY_ENV}={key_path}: not an unencrypted PEM private key ({error})") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in by_curve:
            return by_curve[key.curve.name]
    elif isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CredentialsError(f"{KEY_ENV}={key_path}: C2PA signs with EC P-256/384/521, RSA (PSS) or "
                           f"Ed25519 keys, not {type(key).__name__}")


def signing_identity() -> SigningIdentity:
    """The configured real certificate, else the local one (created if missing)."""
    cert_path, key_path = os.environ.get(CERT_ENV), os.environ.get(KEY_ENV)
    tsa_url = os.environ.get(TSA_ENV) or None
    if cert_path or key_path:
        if not (cert_path and key_path):
            raise CredentialsError(f"content credentials: set both {CERT_ENV} (certificate chain, PEM) "
                                   f"and {KEY_ENV} (private key, PEM), or neither for the local identity")
        try:
            chain_pem, key_pem = Path(cert_path).read_bytes(), Path(key_path).read_bytes()
        except OSError as error:
            raise CredentialsError(f"content credentials: cannot read {error.filename} "
                                   f"({error.strerror})") from None
        if b"-----BEGIN CERTIFICATE-----" not in chain_pem:
            raise CredentialsError(f"{CERT_ENV}={cert_path}: not a PEM certificate chain")
        return SigningIdentity(chain_pem, key_pem, _algorithm_for(key_pem, key_path), cert_path, tsa_url)
    folder = ensure_local_identity()
    return SigningIdentity((folder / CHAIN_FILE).read_bytes(), (folder / KEY_FILE).read_bytes(), "es256",
                           str(folder / CHAIN_FILE), tsa_url)


# ------------------------------------------------------------------ signing and reading


def _software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reenact")
    except PackageNotFoundError:
        return "unknown"


def manifest_definition(title: str, provenance: Provenance) -> dict:
    """The manifest a recording carries (before signing)."""
    software = {"name": "reenact", "version": _software_version()}
    return {
        "claim_generator_info": [software],
        "title": title,
        "assertions": [{
            "label": "c2pa.actions",
            "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                "softwareAgent": software,
                "description": "Real-time face re-enactment: a synthetic face driven by a webcam, "
                               "labelled SYNTHETIC in every frame",
                "parameters": {"model": {"name": provenance.model_name, "id": provenance.model_id}},
            }]},
        }],
    }


def _format_of(path: Path) -> str:
    if not path.is_file():
        raise CredentialsError(f"{path}: no such file")
    mime = RECORDING_MIME_TYPES.get(path.suffix.lower())
    if mime is None:
        kinds = ", ".join(sorted(RECORDING_MIME_TYPES))
        raise CredentialsError(f"{path}: content credentials are embedded into {kinds} videos, "
                               f"not {path.suffix or 'files without a suffix'}")
    return mime


def sign_recording(path: str | Path, model_name: str, model_id: str) -> dict:
    """Embed a signed C2PA manifest into the finished video at ``path``, in place.

    The signed copy is written beside the file and renamed over it, so ``path`` holds
    either the unsigned video or the whole signed one. A file that already carries a
    manifest gets the new one in its place.
    Returns :func:`read_credentials` of the result.
    """
    import c2pa

    path = Path(path)
    mime = _format_of(path)
    identity = signing_identity()
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(identity.algorithm.encode(), identity.chain_pem,
                                                           identity.key_pem, identity.tsa_url))
    except c2pa.C2paError as error:
        raise CredentialsError(f"content credentials: the signing certificate {identity.source} or its key "
                               f"was refused ({error})") from None

    def write_signed(destination) -> None:
        with c2pa.Builder(manifest_definition(path.name, Provenance(model_name, model_id))) as builder, \
                open(path, "rb") as source:
            builder.sign(signer, mime, source, destination)

    try:
        with signer:
            write_atomically(path, write_signed)
    except c2pa.C2paError as error:
        raise CredentialsError(f"{path}: could not sign it ({_c2pa_message(error)}); the video is "
                               "left as it was, without content credentials") from None
    return read_credentials(path)


def _c2pa_message(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def read_credentials(path: str | Path) -> dict | None:
    """A summary of the C2PA manifest in ``path``; None when it carries none.

    Keys: ``present`` (True), ``valid`` (the signature and the file's hashes check out),
    ``validation_state`` (c2pa's: Invalid, Valid or Trusted), ``trusted`` (the signer
    chains to a trust list the reader knows; never so for the local identity),
    ``failures`` (c2pa's failure codes), ``digital_source_type``, ``ai_generated``,
    ``software``, ``claim_generator``, ``model`` ({"name", "id"} or None), ``signer``,
    ``issuer``, ``algorithm``, ``signed_at`` (only with a timestamp authority) and ``title``.
    Raises :class:`CredentialsError` for a missing file or one c2pa cannot parse.
    """
    import c2pa

    path = Path(path)
    if not path.is_file():
        raise CredentialsError(f"{path}: no such file")
    try:
        with c2pa.Reader(str(path)) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        return None
    except c2pa.C2paError.NotSupported:
        raise CredentialsError(f"{path}: not a kind of file that can carry content credentials") from None
    except c2pa.C2paError as error:
        raise CredentialsError(f"{path}: cannot read it as a media file ({_c2pa_message(error)})") from None
    return _summary(store)


def _summary(store: dict) -> dict:
    manifest = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    created = None
    for assertion in manifest.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            actions = assertion.get("data", {}).get("actions", [])
            created = next((a for a in actions if a.get("action") == "c2pa.created"), created)
    created = created or {}
    agent = created.get("softwareAgent")
    software = (" ".join(str(agent.get(k)) for k in ("name", "version") if agent.get(k))
                if isinstance(agent, dict) else agent)
    generators = manifest.get("claim_generator_info") or []
    claim_generator = (" ".join(str(generators[0].get(k)) for k in ("name", "version") if generators[0].get(k))
                       if generators else manifest.get("claim_generator"))
    model = (created.get("parameters") or {}).get("model")
    signature = manifest.get("signature_info") or {}
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [item.get("code") for item in results.get("failure", [])]
    if not results:
        failures = [item.get("code") for item in store.get("validation_status", [])]
    state = store.get("validation_state") or ("Invalid" if failures else "Valid")
    source_type = created.get("digitalSourceType")
    return {
        "present": True,
        "valid": state in VALID_STATES,
        "validation_state": state,
        "trusted": state == "Trusted",
        "failures": failures,
        "digital_source_type": source_type,
        "ai_generated": source_type == TRAINED_ALGORITHMIC_MEDIA,
        "software": software,
        "claim_generator": claim_generator,
        "model": model if isinstance(model, dict) else None,
        "signer": signature.get("common_name"),
        "issuer": signature.get("issuer"),
        "algorithm": signature.get("alg"),
        "signed_at": signature.get("time"),
        "title": manifest.get("title"),
    }


def describe(summary: dict | None) -> list[str]:
    """Lines of text for :func:`read_credentials`' summary (``reenact verify`` prints them)."""
    if summary is None:
        return ["content credentials: none (no C2PA manifest in the file)"]
    if summary["valid"]:
        trust = ("signer trusted" if summary["trusted"] else
                 "signer not on a trust list (a local, self-issued certificate, or one this reader does not know)")
        verdict = f"valid signature, file unchanged since signing; {trust}"
    else:
        verdict = "INVALID: " + (", ".join(code for code in summary["failures"]
                                           if code != "signingCredential.untrusted") or "failed validation")
    model = summary["model"] or {}
    kind = "AI-generated (trainedAlgorithmicMedia)" if summary["ai_generated"] else summary["digital_source_type"]
    return [f"content credentials: {verdict}",
            f"  source type: {kind}",
            f"  software: {summary['software'] or summary['claim_generator']}",
            f"  model: {model.get('name', 'not named')} (id {model.get('id', '?')})",
            f"  signed by: {summary['signer']} ({summary['issuer']}, {summary['algorithm']})"
            + (f" at {summary['signed_at']}" if summary["signed_at"] else "")]
