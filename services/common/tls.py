"""TLS for every service and client, from CommonSettings (ATTUNE_TLS_*): PEM files on disk.

A server with ``tls_cert`` and ``tls_key`` serves TLS only; with
``tls_client_auth`` it also requires a client certificate signed by ``tls_ca``
(mutual TLS). A client with ``tls_ca`` speaks TLS and trusts that CA (and
presents ``tls_cert``/``tls_key`` when they are set, for mutual TLS);
``tls_server_name`` overrides the name checked in the server's certificate
(a target given by IP address). Health checks use TLS like any call: the
kubelet's own gRPC probe cannot, so the chart switches to exec probes with TLS.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from attune.services.common.settings import CommonSettings, SettingsError


def _read(path: Path | None, setting: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise SettingsError(f"ATTUNE_{setting.upper()}={path}: cannot read it ({err.strerror})") from None


def server_credentials(common: CommonSettings) -> grpc.ServerCredentials | None:
    """The server's TLS credentials; None for plaintext (no certificate configured)."""
    if common.tls_cert is None:
        return None
    cert, key = _read(common.tls_cert, "tls_cert"), _read(common.tls_key, "tls_key")
    ca = _read(common.tls_ca, "tls_ca")
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca if common.tls_client_auth else None,
                                       require_client_auth=common.tls_client_auth)


def channel_credentials(common: CommonSettings) -> grpc.ChannelCredentials | None:
    """A client's TLS credentials; None for plaintext (no CA configured)."""
    if common.tls_ca is None:
        return None
    return grpc.ssl_channel_credentials(root_certificates=_read(common.tls_ca, "tls_ca"),
                                        private_key=_read(common.tls_key, "tls_key"),
                                        certificate_chain=_read(common.tls_cert, "tls_cert"))


def channel_options(common: CommonSettings) -> list[tuple[str, str]]:
    return [("grpc.ssl_target_name_override", common.tls_server_name)] if common.tls_server_name else []
